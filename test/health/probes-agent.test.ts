import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { parseAgentReply, probe } from '../../src/health/probes/agent.js';
import { checkConfig, runProbe } from '../helpers/probe-check.js';
import { refusingPort } from '../helpers/backends.js';

t.setTimeout(30_000);

/** An agent on loopback; `received` collects what probes sent it, `closed` counts sockets closed on its side. */
async function agent(tt: Test, onSocket: (s: Socket) => void) {
  const stats = { accepted: 0, closed: 0, received: '' };
  const server = createServer((s) => {
    stats.accepted++;
    s.on('error', () => {});
    s.on('close', () => stats.closed++);
    s.on('data', (d) => (stats.received += d.toString()));
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  tt.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { target: { host: '127.0.0.1', port: (server.address() as { port: number }).port }, stats };
}

t.test('parsing replies as HAProxy reads them', async (t) => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['up', { ok: true }],
    ['ready', { ok: true, drain: false, maint: false }],
    ['75%', { ok: true, weightPercent: 75 }],
    ['up 75%', { ok: true, weightPercent: 75 }],
    ['drain,50%', { ok: true, drain: true, maint: false, weightPercent: 50 }],
    ['maint', { ok: true, maint: true, drain: false }],
    ['down', { ok: false }],
    ['fail', { ok: false }],
    ['stopped', { ok: false }],
    ['DOWN#disk full', { ok: false }],
    ['down, drain 0%', { ok: false, drain: true, maint: false, weightPercent: 0 }],
    ['UP\tREADY\r', { ok: true, drain: false, maint: false }],
    // Among words of one kind the last wins.
    ['drain ready', { ok: true, drain: false, maint: false }],
    ['down up', { ok: true }],
    ['10% 90%', { ok: true, weightPercent: 90 }],
    ['maxconn:30 up', { ok: true }],
    // Unknown words beside known ones are ignored.
    ['up cpu=12', { ok: true }],
  ];
  for (const [line, want] of cases) {
    const r = parseAgentReply(line);
    const got = { ok: r.ok, ...(r.drain !== undefined && { drain: r.drain }), ...(r.maint !== undefined && { maint: r.maint }), ...(r.weightPercent !== undefined && { weightPercent: r.weightPercent }) };
    t.same(got, want, JSON.stringify(line));
  }
  t.equal(parseAgentReply('DOWN#disk full').detail, 'agent says "DOWN#disk full"');
  t.same(parseAgentReply('hello there'), { ok: false, detail: 'agent says "hello there", which is not an agent reply' });
  t.same(parseAgentReply(''), { ok: false, detail: 'agent sent an empty reply' });
  t.same(parseAgentReply('  \r'), { ok: false, detail: 'agent sent an empty reply' });
});

t.test('reads one line, even while the agent keeps the connection open', async (t) => {
  const { target, stats } = await agent(t, (s) => s.write('up 80%\nignored second line\n'));
  const r = await runProbe(probe, target, checkConfig('agent'));
  t.same({ ok: r.ok, weightPercent: r.weightPercent, detail: r.detail }, { ok: true, weightPercent: 80, detail: 'agent says "up 80%"' });
  await until(() => stats.closed === 1);
});

t.test('a reply ended by the agent closing, without a newline', async (t) => {
  const { target } = await agent(t, (s) => s.end('drain'));
  const r = await runProbe(probe, target, checkConfig('agent'));
  t.equal(r.ok, true);
  t.equal(r.drain, true);
});

t.test('agentSend is sent before the reply is read', async (t) => {
  const { target, stats } = await agent(t, (s) => s.once('data', (d) => s.end(d.toString() === 'status web1\n' ? 'maint\n' : 'down\n')));
  const r = await runProbe(probe, target, checkConfig('agent', { agentSend: 'status web1\n' }));
  t.equal(stats.received, 'status web1\n');
  t.equal(r.ok, true);
  t.equal(r.maint, true);
});

t.test('down, with a reason, fails the check', async (t) => {
  const { target } = await agent(t, (s) => s.end('down#backup running\r\n'));
  const r = await runProbe(probe, target, checkConfig('agent'));
  t.equal(r.ok, false);
  t.equal(r.detail, 'agent says "down#backup running"');
});

t.test('an agent that closes without a word fails', async (t) => {
  const { target } = await agent(t, (s) => s.end());
  const r = await runProbe(probe, target, checkConfig('agent'));
  t.equal(r.ok, false);
  t.equal(r.detail, 'agent sent an empty reply');
});

t.test('an agent that never answers: timeout, socket closed', async (t) => {
  const { target, stats } = await agent(t, () => {});
  const r = await runProbe(probe, target, checkConfig('agent'), 250);
  t.equal(r.ok, false);
  t.equal(r.detail, "timeout after 250ms waiting for the agent's reply, got nothing");
  await until(() => stats.accepted === 1 && stats.closed === 1);
});

t.test('a line without end longer than 1 KiB is refused', async (t) => {
  const { target } = await agent(t, (s) => s.write('x'.repeat(5000)));
  const r = await runProbe(probe, target, checkConfig('agent'));
  t.equal(r.ok, false);
  t.match(r.detail, /^reply exceeded 1024 bytes waiting for the agent's reply/);
});

t.test('no agent listening: the check fails', async (t) => {
  const { port } = await refusingPort(t);
  const r = await runProbe(probe, { host: '127.0.0.1', port }, checkConfig('agent'));
  t.equal(r.ok, false);
  t.equal(r.detail, 'connection refused');
});

async function until(test: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

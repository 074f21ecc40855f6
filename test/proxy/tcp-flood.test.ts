/**
 * Robustness under load: more connections than maxConnections, clients that
 * reset at once, clients that never send; afterwards no socket, timer or
 * member count is left behind.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { echoServer, silentServer } from '../helpers/backends.js';
import { startProxy } from '../helpers/tcp-proxy.js';

t.setTimeout(60_000);

/** Open handles by kind (TCPSocketWrap, Timeout, …). */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/** Resolves once sockets and timers are back to `baseline` (closing is asynchronous); bounded. */
async function settled(baseline: Map<string, number>, timeoutMs = 3000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = resources();
    const back = ['TCPSocketWrap', 'Timeout'].every((k) => (now.get(k) ?? 0) <= (baseline.get(k) ?? 0));
    if (back || Date.now() > deadline) return now;
    await new Promise((r) => setTimeout(r, 10));
  }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

t.test('a flood of clients that reset or never send leaves nothing behind', async (t) => {
  const backend = await echoServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint], { idleTimeout: 300 });
  const baseline = resources();

  // 200 clients that reset as soon as they are connected, 20 at a time.
  let left = 200;
  const resetter = async () => {
    while (left-- > 0) {
      const c = await open(proxy.endpoint.port);
      c.on('error', () => {});
      c.resetAndDestroy();
    }
  };
  await Promise.all(Array.from({ length: 20 }, resetter));

  // 50 clients that connect and say nothing: the idle timeout closes them.
  const mute = await Promise.all(Array.from({ length: 50 }, () => open(proxy.endpoint.port)));
  for (const c of mute) c.on('error', () => {});
  await Promise.all(mute.map((c) => new Promise((r) => c.once('close', r).resume())));

  // A well-behaved client still gets served after all that.
  const ok = await open(proxy.endpoint.port);
  const reply = new Promise<string>((resolve) => {
    let s = '';
    ok.on('data', (d: Buffer) => (s += d.toString()));
    ok.once('end', () => resolve(s));
  });
  ok.end('still fine');
  t.equal(await reply, 'still fine');
  ok.destroy();

  const deadline = Date.now() + 5000;
  while (proxy.listener.activeCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(proxy.listener.activeCount, 0, 'no session left');
  t.equal(proxy.members[0]!.active, 0, 'member.active back to 0');
  t.equal(proxy.members[0]!.attachments.size, 0, 'no attachment left');
  const ends = new Set(proxy.records.map((r) => r.end));
  t.ok([...ends].every((e) => e === 'client-closed' || e === 'idle-timeout'), `ends: ${[...ends].join(', ')}`);
  t.equal(proxy.records.filter((r) => r.end === 'idle-timeout').length, 50, 'the mute clients idled out');
  await backend.waitForPeersGone();
  const after = await settled(baseline);
  t.ok((after.get('TCPSocketWrap') ?? 0) <= (baseline.get('TCPSocketWrap') ?? 0), 'sockets back to the baseline');
  t.ok((after.get('Timeout') ?? 0) <= (baseline.get('Timeout') ?? 0), 'timers back to the baseline');
});

t.test('past maxConnections: exactly the excess is refused, and all is released', async (t) => {
  const backend = await silentServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint], { maxConnections: 50 });
  const clients: Socket[] = [];
  t.teardown(() => clients.forEach((c) => c.destroy()));
  for (let i = 0; i < 60; i++) {
    const c = await open(proxy.endpoint.port);
    c.on('error', () => {});
    c.write('x');
    clients.push(c);
  }
  await backend.waitForAccepted(50);
  const refused = await proxy.waitForRecords(10);
  t.same(new Set(refused.map((r) => r.end)), new Set(['refused-max-connections']), '10 refused');
  t.equal(proxy.listener.activeCount, 50);
  t.equal(proxy.members[0]!.active, 50);
  proxy.listener.closeAll('shutdown');
  const all = await proxy.waitForRecords(60);
  t.equal(all.filter((r) => r.end === 'shutdown').length, 50);
  t.equal(proxy.members[0]!.active, 0);
  t.equal(proxy.members[0]!.attachments.size, 0);
});

t.test('out of file descriptors: no crash, no member blamed, service resumes', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const fixture = fileURLToPath(new URL('../fixtures/tcp-listener-child.ts', import.meta.url));
  // The listener runs in a child that holds all its descriptors but one (a small limit keeps that few).
  const child = spawn(
    'sh',
    ['-c', 'ulimit -n 96 && exec "$@"', 'sh', process.execPath, ...process.execArgv, fixture, String(echo.port)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Record<string, string | number | undefined>[] = [];
  let pending = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    pending += d;
    for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
      lines.push(JSON.parse(pending.slice(0, i)));
      pending = pending.slice(i + 1);
    }
  });
  const until = async (what: string, ready: () => boolean, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; child said ${JSON.stringify(lines)}`);
      if (child.exitCode !== null) throw new Error(`the child exited (${child.exitCode}); it said ${JSON.stringify(lines)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until('the child to listen', () => lines.some((l) => l.port !== undefined));
  const port = Number(lines.find((l) => l.port !== undefined)!.port);

  const flood: Socket[] = [];
  t.teardown(() => flood.forEach((c) => c.destroy()));
  for (let i = 0; i < 8; i++) {
    const c = connect({ host: '127.0.0.1', port });
    c.on('error', () => {});
    flood.push(c);
  }
  await until('descriptors to run out', () => lines.some((l) => String(l.error ?? l.acceptError ?? '').includes('EMFILE')));
  for (const c of flood) c.destroy();

  // Once the flood is gone, the same listener serves again.
  let reply = '';
  const served = async (): Promise<string> => {
    const c = connect({ host: '127.0.0.1', port });
    c.on('error', () => {});
    let got = '';
    c.on('data', (d: Buffer) => (got += d.toString()));
    c.end('alive');
    await new Promise((r) => c.once('close', r));
    return got;
  };
  const deadline = Date.now() + 10_000;
  while (reply !== 'alive' && Date.now() < deadline) reply = await served();
  t.equal(reply, 'alive', 'served after the flood');
  t.equal(child.exitCode, null, 'the child is still running');
  t.same(
    lines.filter((l) => l.connectFailed !== undefined),
    [],
    'running out of descriptors is not held against the member',
  );
});

// Active-passive end to end: backups take over when every primary dies,
// primaries take traffic back when they return (with the slow-start ramp in
// the split), admin drain/disable/enable, and refusal or panic when all are down.
// In both process models.
import t from 'tap';
import { once } from 'node:events';
import { connect } from 'node:net';
import { childBackends, startChildBackend } from '../helpers/child-backend.js';
import { exchange } from '../helpers/balancer.js';
import { until } from '../helpers/cli.js';
import { MODES, startInMode, type ModeBalancer } from '../helpers/modes.js';

t.setTimeout(90_000);

const check = `{ type: tcp, interval: 100ms, fastInterval: 50ms, downInterval: 100ms, timeout: 200ms, rise: 2, fall: 1, jitter: 0% }`;
const workersOf = (lb: ModeBalancer) => (lb.mode === 'workers: 2' ? 2 : 1);

/** Sends n exchanges, one after another, and counts which member served them (their access lines). */
async function split(lb: ModeBalancer, port: number, n: number, members: Record<string, string>) {
  const from = lb.cli.lines.length;
  const clients: string[] = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const r = await exchange(port, `x${i}\n`);
    if (!r.ok) failed++;
    if (r.client) clients.push(r.client);
  }
  const servedBy = (await lb.accessOf(clients, from)).map((l) => l['member']);
  return { failed, counts: Object.fromEntries(Object.entries(members).map(([name, id]) => [name, servedBy.filter((m) => m === id).length])) };
}

async function member(lb: ModeBalancer, service: string, id: string) {
  const m = (await lb.status(service)).members.find((x) => x.id === id);
  if (!m) throw new Error(`no member ${id} in /status`);
  return m;
}

for (const mode of MODES) {
  t.test(`backups take over when every primary dies; primaries take back with a slow-start ramp (${mode})`, async (t) => {
    const [p1, p2, b1, b2] = await childBackends(t, 'p1', 'p2', 'b1', 'b2');
    const lb = await startInMode(
      t,
      mode,
      `
services:
  - name: svc
    listen: 127.0.0.1:0
    balance: roundrobin
    slowStart: 3s
    onFailback: close
    healthCheck: ${check}
    members:
      - { address: 127.0.0.1:${p1.port} }
      - { address: 127.0.0.1:${p2.port} }
      - { address: 127.0.0.1:${b1.port}, backup: true }
      - { address: 127.0.0.1:${b2.port}, backup: true }
`,
    );
    const ids = Object.fromEntries([p1, p2, b1, b2].map((b) => [b.name, `127.0.0.1:${b.port}`]));
    await Promise.all([p1, p2, b1].map((b) => lb.waitForState('svc', ids[b.name]!, 'up')));
    const port = await lb.port('svc');

    const normal = await split(lb, port, 20, ids);
    t.match(normal, { failed: 0, counts: { b1: 0, b2: 0 } }, 'backups idle');
    t.equal(normal.counts['p1']! + normal.counts['p2']!, 20, 'the primaries serve');
    // Round robin is kept per serving process: the members' counts differ by at most one per process.
    t.ok(Math.abs(normal.counts['p1']! - normal.counts['p2']!) <= workersOf(lb), `the primaries share (${normal.counts['p1']}/${normal.counts['p2']})`);

    const bothDown = Promise.all([lb.waitForState('svc', ids['p1']!, 'down'), lb.waitForState('svc', ids['p2']!, 'down')]);
    await Promise.all([p1.kill(), p2.kill()]);
    await bothDown;
    await lb.waitForRouting('svc', 'backup');
    const failover = await split(lb, port, 10, ids);
    t.same(failover, { failed: 0, counts: { p1: 0, p2: 0, b1: 10, b2: 0 } }, 'only the first backup takes traffic');
    // A client stays on the backup: onFailback: close ends it when the primaries take back.
    const held = connect({ port, host: '127.0.0.1' });
    held.on('error', () => {});
    held.write('held\n');
    await once(held, 'data');
    const heldClosed = new Promise<number>((r) => held.once('close', () => r(performance.now())));

    // The primaries return on their old ports.
    const r1 = await startChildBackend('p1', p1.port);
    const r2 = await startChildBackend('p2', p2.port);
    t.teardown(() => Promise.all([r1.kill(), r2.kill()]));
    const failbackAt = await lb.waitForRouting('svc', 'primary');
    const closedAt = await heldClosed;
    t.pass(`the connection held on the backup was closed at failback (${(closedAt - failbackAt).toFixed(0)}ms after the line)`);
    const back = await split(lb, port, 10, ids);
    t.equal(back.counts['b1'], 0, 'the backup takes no new connections after failback');
    t.equal(back.failed, 0);
    const m1 = await member(lb, 'svc', ids['p1']!);
    t.ok(m1.weight < m1.configWeight, `slow start: weight ramps (${m1.weight} of ${m1.configWeight})`);
  });

  t.test(`slow start shows in the split: a recovered member takes a small share that grows (${mode})`, async (t) => {
    const [a, b] = await childBackends(t, 'a', 'b');
    const lb = await startInMode(
      t,
      mode,
      `
services:
  - name: svc
    listen: 127.0.0.1:0
    balance: roundrobin
    slowStart: 4s
    healthCheck: ${check}
    members:
      - { address: 127.0.0.1:${a.port} }
      - { address: 127.0.0.1:${b.port} }
`,
    );
    const ma = `127.0.0.1:${a.port}`;
    await Promise.all([lb.waitForState('svc', ma, 'up'), lb.waitForState('svc', `127.0.0.1:${b.port}`, 'up')]);
    const port = await lb.port('svc');
    const down = lb.waitForState('svc', ma, 'down');
    await a.kill();
    await down;
    const up = lb.waitForState('svc', ma, 'up');
    const again = await startChildBackend('a', a.port);
    t.teardown(() => again.kill());
    await up;
    const share = async () => (await split(lb, port, 100, { a: ma, b: `127.0.0.1:${b.port}` })).counts['a']! / 100;
    const early = await share();
    await until('the ramp to pass 75%', 6000, async () => {
      const m = await member(lb, 'svc', ma);
      return m.weight > m.configWeight * 0.75;
    });
    const late = await share();
    t.comment(`recovered member's share: ${(early * 100).toFixed(0)}% early in the ramp, ${(late * 100).toFixed(0)}% late`);
    t.ok(early < 0.3, `small share early (${early})`);
    t.ok(late > early + 0.1, `larger share later (${late})`);
  });

  t.test(`admin drain, disable and enable; all members down → refused at once and counted; panic spreads anyway (${mode})`, async (t) => {
    const [a, b] = await childBackends(t, 'a', 'b');
    const lb = await startInMode(
      t,
      mode,
      `
services:
  - name: svc
    listen: 127.0.0.1:0
    drainTimeout: 300ms
    healthCheck: ${check}
    members:
      - { address: 127.0.0.1:${a.port} }
      - { address: 127.0.0.1:${b.port} }
  - name: panicky
    listen: 127.0.0.1:0
    panic: true
    healthCheck: { type: send-expect, send: "PING\\r\\n", expect: "never", interval: 100ms, timeout: 100ms, fall: 1, rise: 1 }
    members:
      - { address: 127.0.0.1:${a.port} }
`,
    );
    const ids = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`];
    await Promise.all(ids.map((id) => lb.waitForState('svc', id, 'up')));
    const port = await lb.port('svc');

    // Drain: the open connection goes on, new ones go elsewhere, then it is closed at drainTimeout.
    const held = connect({ port, host: '127.0.0.1' });
    held.on('error', () => {});
    await new Promise((r) => held.once('connect', r));
    // Under workers the primary learns the workers' open connections once a second.
    let heldOn = '';
    await until('the held connection in /status', 3000, async () => {
      heldOn = (await lb.status('svc')).members.find((m) => m.active === 1)?.id ?? '';
      return heldOn !== '';
    });
    const other = ids.find((id) => id !== heldOn)!;
    const closedAt = new Promise<number>((r) => held.once('close', () => r(performance.now())));
    const drainedAt = performance.now();
    t.equal(await lb.act('svc', heldOn, 'drain'), 200);
    t.equal((await member(lb, 'svc', heldOn)).state, 'draining');
    const four = await split(lb, port, 4, { heldOn, other });
    t.same(four, { failed: 0, counts: { heldOn: 0, other: 4 } }, 'no new connections to a draining member');
    const closed = await closedAt;
    t.ok(closed - drainedAt >= 250 && closed - drainedAt < 1500, `closed after drainTimeout (${(closed - drainedAt).toFixed(0)}ms)`);

    // Disable is maintenance: checks keep passing, the member stays out until enable.
    t.equal(await lb.act('svc', other, 'disable'), 200);
    t.equal((await member(lb, 'svc', other)).state, 'disabled');
    await new Promise((r) => setTimeout(r, 300));
    t.equal((await member(lb, 'svc', other)).state, 'disabled', 'no check brings a disabled member back');
    // Both out: new connections are refused at once, and counted.
    const refused = await exchange(port, 'x\n');
    t.notOk(refused.ok);
    t.ok(refused.ms < 200, `refused at once (${refused.ms.toFixed(1)}ms)`);
    t.match(await lb.metrics(), /switchyard_connections_total\{service="svc",member="",result="no-member"\} [1-9]/, 'the refusal is counted');
    await lb.act('svc', other, 'enable');
    await lb.act('svc', heldOn, 'enable');
    t.equal((await member(lb, 'svc', other)).state, 'up');
    t.ok((await exchange(port, 'x\n')).ok, 'serving again after enable');

    // panic: the one member fails its (impossible) check, and connections are spread over it anyway.
    await lb.waitForState('panicky', ids[0]!, 'down');
    await lb.waitForRouting('panicky', 'panic');
    t.ok((await exchange(await lb.port('panicky'), 'y\n')).ok, 'panic routes to a down member rather than refuse');
  });
}

// Active-passive end to end: backups take over when every primary dies,
// primaries take traffic back when they return (with the slow-start ramp in
// the split), admin drain/disable/enable, and refusal or panic when all are down.
import t from 'tap';
import { childBackends, startChildBackend } from '../helpers/child-backend.js';
import { exchange, startBalancer, waitFor, waitForState } from '../helpers/balancer.js';

t.setTimeout(60_000);

const check = `{ type: tcp, interval: 100ms, fastInterval: 50ms, downInterval: 100ms, timeout: 200ms, rise: 2, fall: 1, jitter: 0% }`;

/** Sends n exchanges, one after another, and counts which backend (by accept count) served them. */
async function split(port: number, n: number, backends: Array<{ name: string; accepted: () => number }>) {
  const before = backends.map((b) => b.accepted());
  let failed = 0;
  for (let i = 0; i < n; i++) if (!(await exchange(port, `x${i}\n`)).ok) failed++;
  // The proxy records a connection when it has closed both sides, just after the client saw its reply.
  const total = () => backends.reduce((sum, b, i) => sum + b.accepted() - before[i]!, 0);
  await waitFor(() => total() >= n - failed, 2000, 'every connection to be recorded');
  return { failed, counts: Object.fromEntries(backends.map((b, i) => [b.name, b.accepted() - before[i]!])) };
}

t.test('backups take over when every primary dies; primaries take back with a slow-start ramp', async (t) => {
  const [p1, p2, b1, b2] = await childBackends(t, 'p1', 'p2', 'b1', 'b2');
  const lb = await startBalancer(
    t,
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
  const svc = lb.services.get('svc')!;
  const [m1, m2, mb1] = [p1, p2, b1].map((b) => svc.pool.get(`127.0.0.1:${b.port}`)!);
  await Promise.all([waitForState(m1!, 'up'), waitForState(m2!, 'up'), waitForState(mb1!, 'up')]);
  const port = lb.address('svc').port;
  const served = new Map<string, number>();
  svc.listener.on('session-end', (r) => r.member && served.set(r.member, (served.get(r.member) ?? 0) + 1));
  const count = (b: { port: number }) => served.get(`127.0.0.1:${b.port}`) ?? 0;
  const who = [p1, p2, b1, b2].map((b) => ({ name: b.name, accepted: () => count(b) }));

  const normal = await split(port, 20, who);
  t.same(normal, { failed: 0, counts: { p1: 10, p2: 10, b1: 0, b2: 0 } }, 'primaries share, backups idle');

  const bothDown = Promise.all([waitForState(m1!, 'down'), waitForState(m2!, 'down')]);
  // A client holds a connection on the backup, to see onFailback: close end it later.
  await Promise.all([p1.kill(), p2.kill()]);
  await bothDown;
  t.equal(svc.pool.mode, 'backup');
  const failover = await split(port, 10, who);
  t.same(failover, { failed: 0, counts: { p1: 0, p2: 0, b1: 10, b2: 0 } }, 'only the first backup takes traffic');

  // The primaries return on their old ports.
  const failback = new Promise<number>((resolve) => svc.pool.once('failback', () => resolve(performance.now())));
  const r1 = await startChildBackend('p1', p1.port);
  const r2 = await startChildBackend('p2', p2.port);
  t.teardown(() => Promise.all([r1.kill(), r2.kill()]));
  await failback;
  t.equal(svc.pool.mode, 'primary', 'primaries take traffic back when they are up');
  const back = await split(port, 10, who);
  t.equal(back.counts.b1, 0, 'the backup takes no new connections after failback');
  t.equal(back.failed, 0);
  t.ok(m1!.ramping() && m1!.weight() < m1!.configWeight, `slow start: weight ramps (${m1!.weight().toFixed(1)} of ${m1!.configWeight})`);
});

t.test('slow start shows in the split: a recovered member takes a small share that grows', async (t) => {
  const [a, b] = await childBackends(t, 'a', 'b');
  const lb = await startBalancer(
    t,
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
  const svc = lb.services.get('svc')!;
  const ma = svc.pool.get(`127.0.0.1:${a.port}`)!;
  await waitForState(ma, 'up');
  const port = lb.address('svc').port;
  const served = new Map<string, number>();
  svc.listener.on('session-end', (r) => r.member && served.set(r.member, (served.get(r.member) ?? 0) + 1));
  const down = waitForState(ma, 'down');
  await a.kill();
  await down;
  const up = waitForState(ma, 'up');
  const again = await startChildBackend('a', a.port);
  t.teardown(() => again.kill());
  await up;
  const share = async () => {
    served.clear();
    for (let i = 0; i < 100; i++) await exchange(port, 'x\n');
    return (served.get(ma.id) ?? 0) / 100;
  };
  const early = await share();
  await waitFor(() => !ma.ramping() || ma.weight() > ma.configWeight * 0.75, 6000, 'the ramp to pass 75%');
  const late = await share();
  t.comment(`recovered member's share: ${(early * 100).toFixed(0)}% early in the ramp, ${(late * 100).toFixed(0)}% late`);
  t.ok(early < 0.3, `small share early (${early})`);
  t.ok(late > early + 0.1, `larger share later (${late})`);
});

t.test('admin drain, disable and enable; all members down → refused at once and counted; panic spreads anyway', async (t) => {
  const [a, b] = await childBackends(t, 'a', 'b');
  const lb = await startBalancer(
    t,
    `
admin: { listen: 127.0.0.1:0 }
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
  const admin = `http://127.0.0.1:${lb.adminAddress()!.port}`;
  const svc = lb.services.get('svc')!;
  const ma = svc.pool.get(`127.0.0.1:${a.port}`)!;
  const mb = svc.pool.get(`127.0.0.1:${b.port}`)!;
  await Promise.all([waitForState(ma, 'up'), waitForState(mb, 'up')]);
  const port = lb.address('svc').port;

  // Drain: the open connection goes on, new ones go elsewhere, then it is closed at drainTimeout.
  const { connect } = await import('node:net');
  const held = connect({ port, host: '127.0.0.1' });
  held.on('error', () => {});
  await new Promise((r) => held.once('connect', r));
  await waitFor(() => ma.active + mb.active === 1, 2000, 'the held connection');
  const heldOn = ma.active === 1 ? ma : mb;
  const other = heldOn === ma ? mb : ma;
  const closedAt = new Promise<number>((r) => held.once('close', () => r(performance.now())));
  const res = await fetch(`${admin}/services/svc/members/${encodeURIComponent(heldOn.id)}/drain`, { method: 'POST' });
  t.equal(res.status, 200);
  const drainedAt = performance.now();
  t.equal(heldOn.state, 'draining');
  for (let i = 0; i < 4; i++) t.ok((await exchange(port, 'x\n')).ok);
  t.equal(heldOn.active, 1, 'no new connections to a draining member');
  const closed = await closedAt;
  t.ok(closed - drainedAt >= 250 && closed - drainedAt < 1500, `closed after drainTimeout (${(closed - drainedAt).toFixed(0)}ms)`);

  // Disable is maintenance: checks keep passing, the member stays out until enable.
  await fetch(`${admin}/services/svc/members/${encodeURIComponent(other.id)}/disable`, { method: 'POST' });
  t.equal(other.state, 'disabled');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(other.state, 'disabled', 'no check brings a disabled member back');
  // Both out: new connections are refused at once, and counted.
  const refused = await exchange(port, 'x\n');
  t.notOk(refused.ok);
  t.ok(refused.ms < 200, `refused at once (${refused.ms.toFixed(1)}ms)`);
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  t.match(metrics, /switchyard_connections_total\{service="svc",member="",result="no-member"\} [1-9]/, 'the refusal is counted');
  await fetch(`${admin}/services/svc/members/${encodeURIComponent(other.id)}/enable`, { method: 'POST' });
  await fetch(`${admin}/services/svc/members/${encodeURIComponent(heldOn.id)}/enable`, { method: 'POST' });
  t.equal(other.state, 'up');
  t.ok((await exchange(port, 'x\n')).ok, 'serving again after enable');

  // panic: the one member fails its (impossible) check, and connections are spread over it anyway.
  const panicky = lb.services.get('panicky')!;
  await waitForState(panicky.pool.members[0]!, 'down');
  t.equal(panicky.pool.mode, 'panic');
  t.ok((await exchange(lb.address('panicky').port, 'y\n')).ok, 'panic routes to a down member rather than refuse');
});

// Active-passive end to end: backups take over when every primary dies, and
// primaries take traffic back when they return (with the slow-start ramp in
// the split). In both process models. Admin actions: admin-actions.test.ts.
import t from 'tap';
import { once } from 'node:events';
import { connect } from 'node:net';
import { childBackends, startChildBackend } from '../helpers/child-backend.js';
import { until } from '../helpers/cli.js';
import { FAST_TCP_CHECK as check, member, MODES, split, startInMode, type ModeBalancer } from '../helpers/modes.js';

t.setTimeout(90_000);

const workersOf = (lb: ModeBalancer) => (lb.mode === 'workers: 2' ? 2 : 1);

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

    // The primaries return on their old ports. p1 first, and its weight is read as it comes up: its 3 s
    // ramp must be under way then, however long p2 takes to start on a busy machine.
    const r1 = await startChildBackend('p1', p1.port);
    t.teardown(() => r1.kill());
    const failbackAt = await lb.waitForRouting('svc', 'primary');
    await lb.waitForState('svc', ids['p1']!, 'up');
    const m1 = await member(lb, 'svc', ids['p1']!);
    t.ok(m1.weight < m1.configWeight, `slow start: weight ramps (${m1.weight} of ${m1.configWeight})`);
    const closedAt = await heldClosed;
    t.pass(`the connection held on the backup was closed at failback (${(closedAt - failbackAt).toFixed(0)}ms after the line)`);
    const r2 = await startChildBackend('p2', p2.port);
    t.teardown(() => r2.kill());
    await lb.waitForState('svc', ids['p2']!, 'up');
    const back = await split(lb, port, 10, ids);
    t.equal(back.counts['b1'], 0, 'the backup takes no new connections after failback');
    t.equal(back.failed, 0);
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

}

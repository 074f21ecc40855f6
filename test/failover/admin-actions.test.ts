// Admin actions end to end: drain, disable and enable a member; with every member
// out, new connections are refused at once and counted; `panic` spreads them over
// down members instead. In both process models.
import t from 'tap';
import { connect } from 'node:net';
import { childBackends } from '../helpers/child-backend.js';
import { exchange } from '../helpers/balancer.js';
import { until } from '../helpers/cli.js';
import { FAST_TCP_CHECK as check, member, MODES, split, startInMode } from '../helpers/modes.js';

t.setTimeout(90_000);

for (const mode of MODES) {
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

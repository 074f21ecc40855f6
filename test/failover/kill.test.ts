// A member SIGKILLed while clients open connections at a steady rate: no client
// connection fails (connect retries and the pick move on), and the member is
// marked down within fall × interval.
import t from 'tap';
import { childBackends } from '../helpers/child-backend.js';
import { startBalancer, steadyLoad, waitForState } from '../helpers/balancer.js';

t.setTimeout(30_000);

const interval = 200;
const fall = 2;

for (const replayOnSilence of [false, true]) {
  t.test(`SIGKILL during a steady load (replayOnSilence: ${replayOnSilence})`, async (t) => {
    const [a, b] = await childBackends(t, 'a', 'b');
    const lb = await startBalancer(
      t,
      `
services:
  - name: svc
    listen: 127.0.0.1:0
    balance: roundrobin
    retries: 2
    connectTimeout: 500ms
    firstByteTimeout: ${replayOnSilence ? '300ms' : '0'}
    replayOnSilence: ${replayOnSilence}
    healthCheck: { type: tcp, interval: ${interval}ms, fastInterval: 100ms, timeout: 200ms, rise: 2, fall: ${fall}, jitter: 0% }
    members:
      - { address: 127.0.0.1:${a.port} }
      - { address: 127.0.0.1:${b.port} }
`,
    );
    const svc = lb.services.get('svc')!;
    const memberA = svc.pool.get(`127.0.0.1:${a.port}`)!;
    await waitForState(memberA, 'up');
    const port = lb.address('svc').port;
    const load = steadyLoad(port, 4);
    await new Promise((r) => setTimeout(r, 500));
    const down = waitForState(memberA, 'down', 5000);
    const killedAt = performance.now();
    await a.kill('SIGKILL');
    // From here the kernel has torn down the member's sockets: new connects are refused, not reset.
    const goneAt = performance.now();
    const ev = await down;
    await new Promise((r) => setTimeout(r, 500));
    const results = await load.stop();
    const failed = results.filter((r) => !r.ok);
    const detection = ev.at - killedAt;
    for (const f of failed) t.comment(`failed at ${(f.at - killedAt).toFixed(1)}ms: ${f.error}`);
    t.comment(`detection ${detection.toFixed(0)}ms by ${ev.cause.source} (${ev.cause.detail}); ${results.length} connections, ${failed.length} failed`);
    t.ok(results.length > 100, `the load ran (${results.length} connections)`);
    t.ok(detection <= fall * interval + 50, `marked down within fall × interval (${detection.toFixed(0)}ms)`);
    if (replayOnSilence) {
      t.same(failed, [], 'no client connection failed');
    } else {
      // Without replay, only a connection relayed to the member while it was dying can fail:
      // one begun before its process was gone and not finished before the kill.
      const dying = results.filter((r) => r.at < goneAt && r.at + r.ms > killedAt);
      t.same(
        failed.filter((r) => !dying.includes(r)),
        [],
        `only connections in flight while the member died failed (${failed.length} of ${dying.length} in flight)`,
      );
    }
  });
}

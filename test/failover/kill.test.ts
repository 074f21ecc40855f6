// A member SIGKILLed while clients open connections at a steady rate: no client
// connection fails (connect retries and the pick move on), and the member is
// marked down within fall × interval. In both process models.
import t from 'tap';
import { childBackends } from '../helpers/child-backend.js';
import { steadyLoad } from '../helpers/balancer.js';
import { MODES, startInMode } from '../helpers/modes.js';

t.setTimeout(60_000);

const interval = 200;
const fall = 2;

for (const mode of MODES) {
  for (const replayOnSilence of [false, true]) {
    t.test(`SIGKILL during a steady load (replayOnSilence: ${replayOnSilence}; ${mode})`, async (t) => {
      const [a, b] = await childBackends(t, 'a', 'b');
      const lb = await startInMode(
        t,
        mode,
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
      const memberA = `127.0.0.1:${a.port}`;
      await Promise.all([lb.waitForState('svc', memberA, 'up'), lb.waitForState('svc', `127.0.0.1:${b.port}`, 'up')]);
      const load = steadyLoad(await lb.port('svc'), 4);
      await new Promise((r) => setTimeout(r, 500));
      const down = lb.waitForState('svc', memberA, 'down', 5000);
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
      t.comment(`detection ${detection.toFixed(0)}ms by ${ev.source} (${ev.detail}); ${results.length} connections, ${failed.length} failed`);
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
}

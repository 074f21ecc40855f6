// A member SIGSTOPped: the kernel still accepts its connections, it never
// answers. Each of the send-expect, http and redis checks marks it down within
// fall × (interval + timeout); with onMemberDown: close its stalled clients are
// closed at that moment; with replayOnSilence no client fails. In both process models.
import t from 'tap';
import { connect } from 'node:net';
import { childBackends } from '../helpers/child-backend.js';
import { steadyLoad } from '../helpers/balancer.js';
import { MODES, startInMode } from '../helpers/modes.js';

t.setTimeout(90_000);

const interval = 300;
const timeout = 200;
const fall = 2;
const checks: Record<string, string> = {
  'send-expect': `{ type: send-expect, send: "PING\\r\\n", expect: "+PONG" }`,
  http: `{ type: http, path: /healthz, expectStatus: 200 }`,
  redis: `{ type: redis }`,
};

function timing(check: string): string {
  return check.replace(' }', `, interval: ${interval}ms, fastInterval: 100ms, timeout: ${timeout}ms, rise: 2, fall: ${fall}, jitter: 0% }`);
}

for (const mode of MODES) {
  // Probes run in the one checking process either way; what workers change is how the verdict reaches
  // the serving processes, which one probe kind shows.
  const kinds = mode === 'workers: 1' ? Object.entries(checks) : [['send-expect', checks['send-expect']!] as const];
  for (const [kind, check] of kinds) {
    t.test(`${kind} check marks a hung member down; its stalled clients are closed then (${mode})`, async (t) => {
      const [a, b] = await childBackends(t, 'a', 'b');
      const lb = await startInMode(
        t,
        mode,
        `
services:
  - name: svc
    listen: 127.0.0.1:0
    balance: first
    onMemberDown: close
    healthCheck: ${timing(check)}
    members:
      - { address: 127.0.0.1:${a.port} }
      - { address: 127.0.0.1:${b.port} }
`,
      );
      const memberA = `127.0.0.1:${a.port}`;
      await lb.waitForState('svc', memberA, 'up');
      const port = await lb.port('svc');
      const down = lb.waitForState('svc', memberA, 'down', 5000);
      a.stop();
      const stoppedAt = performance.now();
      // `first` sends every new connection to the hung member until it is marked down.
      const stalled = connect({ port, host: '127.0.0.1' });
      stalled.on('error', () => {});
      stalled.write('hello\n');
      const closedAt = new Promise<number>((resolve) => stalled.on('close', () => resolve(performance.now())));
      const ev = await down;
      const detection = ev.at - stoppedAt;
      t.comment(`${kind}: detection ${detection.toFixed(0)}ms (${ev.detail})`);
      t.equal(ev.source, 'check', 'the active check saw it');
      t.ok(detection <= fall * (interval + timeout) + 50, `down within fall × (interval + timeout): ${detection.toFixed(0)}ms`);
      const closed = await closedAt;
      t.ok(closed - ev.at < 100, `the stalled client was closed when the member went down (${(closed - ev.at).toFixed(1)}ms after)`);
      a.resume();
    });
  }

  t.test(`replayOnSilence: a hung member costs clients a delay, not a failure (${mode})`, async (t) => {
    const [a, b] = await childBackends(t, 'a', 'b');
    const lb = await startInMode(
      t,
      mode,
      `
services:
  - name: svc
    listen: 127.0.0.1:0
    balance: roundrobin
    firstByteTimeout: 200ms
    replayOnSilence: true
    healthCheck: ${timing(checks['send-expect']!)}
    members:
      - { address: 127.0.0.1:${a.port} }
      - { address: 127.0.0.1:${b.port} }
`,
    );
    const memberA = `127.0.0.1:${a.port}`;
    await Promise.all([lb.waitForState('svc', memberA, 'up'), lb.waitForState('svc', `127.0.0.1:${b.port}`, 'up')]);
    const load = steadyLoad(await lb.port('svc'), 5);
    await new Promise((r) => setTimeout(r, 300));
    const down = lb.waitForState('svc', memberA, 'down', 5000);
    a.stop();
    const stoppedAt = performance.now();
    const ev = await down;
    await new Promise((r) => setTimeout(r, 500));
    const results = await load.stop();
    a.resume();
    const reroutes = Number(/switchyard_reroutes_total\{service="svc"\} (\d+)/.exec(await lb.metrics())?.[1] ?? 0);
    const failed = results.filter((r) => !r.ok);
    const slowest = Math.max(...results.map((r) => r.ms));
    t.comment(`detection ${(ev.at - stoppedAt).toFixed(0)}ms by ${ev.source}; ${results.length} connections, ${failed.length} failed, ${reroutes} replayed, slowest ${slowest.toFixed(0)}ms`);
    for (const f of failed) t.comment(`failed: ${f.error} after ${f.ms.toFixed(0)}ms`);
    t.same(failed, [], 'no client connection failed');
    t.ok(reroutes > 0, 'connections stalled on the hung member were moved');
  });
}

// The failover must-shows again with `workers: 2` (the primary checks, the
// workers serve): a member SIGKILLed, and one SIGSTOPped, during a steady load
// through both workers. No client connection fails (replayOnSilence), and
// /status shows the member down within the same bounds as one process.
import t from 'tap';
import { childBackends } from '../helpers/child-backend.js';
import { steadyLoad } from '../helpers/balancer.js';
import { startCli, statusMembers, until } from '../helpers/cli.js';

t.setTimeout(90_000);

const interval = 300;
const timeout = 200;
const fall = 2;

const faults = {
  // fall × interval; /status is polled every 10 ms, plus the primary → worker hop.
  SIGKILL: { act: (b: { kill(): Promise<void> }) => b.kill(), bound: fall * interval + 100 },
  SIGSTOP: { act: (b: { stop(): void }) => b.stop(), bound: fall * (interval + timeout) + 100 },
};

for (const [name, fault] of Object.entries(faults)) {
  t.test(`${name} a member under a steady load through two workers`, async (t) => {
    const [a, b] = await childBackends(t, 'a', 'b');
    const r = await startCli(
      t,
      `workers: 2
admin: 127.0.0.1:0
log: { level: info, access: false }
services:
  - name: svc
    listen: 127.0.0.1:0
    balance: roundrobin
    firstByteTimeout: 200ms
    replayOnSilence: true
    healthCheck: { type: send-expect, send: "PING\\r\\n", expect: "+PONG", interval: ${interval}ms, fastInterval: 100ms, timeout: ${timeout}ms, rise: 2, fall: ${fall}, jitter: 0% }
    members:
      - 127.0.0.1:${a.port}
      - 127.0.0.1:${b.port}
`,
    );
    const stateOfA = async () => (await statusMembers(r.admin)).find((m) => m.id === `127.0.0.1:${a.port}`)?.state;
    await until('members up', 10_000, async () => (await statusMembers(r.admin)).every((m) => m.state === 'up'));
    const load = steadyLoad(r.port, 5);
    await new Promise((res) => setTimeout(res, 500));
    const faultAt = Date.now();
    const faultAtPerf = performance.now();
    await fault.act(a);
    await until(`member down in /status`, 5_000, async () => (await stateOfA()) === 'down');
    const detection = Date.now() - faultAt;
    await new Promise((res) => setTimeout(res, 500));
    const results = await load.stop();
    b.resume();
    a.resume();
    const failed = results.filter((x) => !x.ok);
    const slowest = Math.max(...results.map((x) => x.ms));
    t.comment(`${name}: detection ${detection}ms; ${results.length} connections, ${failed.length} failed, slowest ${slowest.toFixed(0)}ms`);
    t.ok(results.length > 150, 'the load ran');
    t.ok(detection <= fault.bound, `down in /status within ${fault.bound}ms (${detection}ms)`);
    for (const f of failed) t.comment(`failed: ${f.error} after ${f.ms.toFixed(0)}ms, ${(f.at - faultAtPerf).toFixed(0)}ms from the fault`);
    t.same(failed, [], 'no client connection failed');
  });
}

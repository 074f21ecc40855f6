// Passive health end to end: with no active check, a member that refuses
// connections is ejected by the outlier detector from the serving process's own
// connect failures (under workers, reported to the primary), clients keep being
// served by the connect retry, no connection goes to it while it is out, and it
// returns after ejectTime. In both process models.
import t from 'tap';
import { childBackends, startChildBackend } from '../helpers/child-backend.js';
import { exchange } from '../helpers/balancer.js';
import { MODES, startInMode, type ModeBalancer } from '../helpers/modes.js';

t.setTimeout(60_000);

const ejectTime = 1000;

/** Runs n exchanges one after another; the access lines of those that connected. */
async function exchanges(lb: ModeBalancer, port: number, n: number) {
  const from = lb.cli.lines.length;
  const clients: string[] = [];
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const r = await exchange(port, `x${i}\n`);
    if (r.ok) ok++;
    if (r.client) clients.push(r.client);
  }
  return { ok, lines: await lb.accessOf(clients, from) };
}

for (const mode of MODES) {
  t.test(`a member refusing connections is ejected, skipped, and returns after ejectTime (${mode})`, async (t) => {
    const [a, b] = await childBackends(t, 'a', 'b');
    const lb = await startInMode(
      t,
      mode,
      `
services:
  - name: svc
    listen: 127.0.0.1:0
    balance: roundrobin
    retries: 1
    healthCheck: { type: none }
    outlier: { consecutiveFailures: 3, ejectTime: ${ejectTime}ms, maxEjectedPercent: 50 }
    members:
      - { address: 127.0.0.1:${a.port} }
      - { address: 127.0.0.1:${b.port} }
`,
    );
    const [ida, idb] = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`];
    const port = await lb.port('svc');
    t.ok((await exchange(port, 'first\n')).ok, 'serving');

    await a.kill();
    const ejected = lb.waitForState('svc', ida, 'down', 10_000);
    let sent = 0;
    let failed = 0;
    let out = false;
    void ejected.then(() => (out = true), () => {});
    // Each connection that picks the dead member fails its connect and is retried on the other.
    while (!out && sent < 200) {
      sent++;
      if (!(await exchange(port, `x${sent}\n`)).ok) failed++;
    }
    const ev = await ejected;
    t.comment(`ejected after ${sent} connections: ${ev.detail}`);
    t.equal(ev.source, 'outlier', 'the outlier detector ejected it');
    t.match(ev.detail, /^3 consecutive connect failures \(refused/, 'naming the failures');
    t.equal(failed, 0, 'no client connection failed: the retry took each to the other member');

    // While out, every connection goes to the other member at the first try.
    const whileOut = await exchanges(lb, port, 10);
    t.equal(whileOut.ok, 10, 'ten connections served while it is out');
    t.same(whileOut.lines.map((l) => [l['member'], l['retries']]), Array(10).fill([idb, 0]), 'each by the other member, at the first try');

    // Back on its port, it returns when the ejection ends and takes its share again.
    const again = await startChildBackend('a', a.port);
    t.teardown(() => again.kill());
    const back = await lb.waitForState('svc', ida, 'up', ejectTime * 3);
    t.equal(back.source, 'outlier');
    t.match(back.detail, /^ejection of \d+ms ended/);
    const after = await exchanges(lb, port, 10);
    t.equal(after.ok, 10, 'ten connections served after it returned');
    t.ok(after.lines.some((l) => l['member'] === ida), 'the returned member serves again');
    t.same(after.lines.filter((l) => l['retries'] !== 0), [], 'and none needed a retry');
  });
}

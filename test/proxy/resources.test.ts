// Bad input costs nothing lasting: after a mix of good connections and bad ones
// (clients that reset at once or mid-request, clients that never send, garbage
// PROXY headers, a member that refuses, a member that hangs), every connection is
// gone from /status, every upstream socket is closed at the member, and the
// proxy's processes hold exactly the file descriptors they held before.
// In both process models; run as a child process, so /proc/PID/fd counts only it.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { exchange } from '../helpers/balancer.js';
import { echoServer, refusingPort, silentServer } from '../helpers/backends.js';
import { http, until } from '../helpers/cli.js';
import { MODES, startInMode, type ModeBalancer } from '../helpers/modes.js';

t.setTimeout(90_000);

/** Open file descriptors of the balancer's processes (the primary and its workers, if any). */
async function descriptors(lb: ModeBalancer): Promise<Record<number, number>> {
  const status = JSON.parse((await http('GET', `${lb.admin}/status`)).body) as { workers?: Array<{ pid: number }> };
  const pids = [lb.cli.child.pid!, ...(status.workers ?? []).map((w) => w.pid)];
  return Object.fromEntries(pids.map((pid) => [pid, readdirSync(`/proc/${pid}/fd`).length]));
}

/** Runs `n` of `one` with at most `concurrency` at a time. */
async function many(n: number, concurrency: number, one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await one(next++);
  }));
}

/** Connects, then does `act` with the socket, and resolves when it has closed. */
function client(port: number, act: (s: Socket) => void): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.on('connect', () => act(s));
  });
}

for (const mode of MODES) {
  t.test(`good and bad connections leave no socket behind (${mode})`, async (t) => {
    const echo = await echoServer();
    const hung = await silentServer();
    t.teardown(() => Promise.all([echo.close(), hung.close()]));
    const refusing = await refusingPort(t);
    const lb = await startInMode(
      t,
      mode,
      `
services:
  - name: mixed
    listen: 127.0.0.1:0
    healthCheck: { type: none }
    members: [127.0.0.1:${echo.port}]
  - name: idle
    listen: 127.0.0.1:0
    idleTimeout: 500ms
    healthCheck: { type: none }
    members: [127.0.0.1:${echo.port}]
  - name: refused
    listen: 127.0.0.1:0
    retries: 1
    healthCheck: { type: none }
    members: [127.0.0.1:${refusing.port}]
  - name: hung
    listen: 127.0.0.1:0
    idleTimeout: 300ms
    healthCheck: { type: none }
    members: [127.0.0.1:${hung.port}]
  - name: proxied
    listen: 127.0.0.1:0
    acceptProxyProtocol: true
    healthCheck: { type: none }
    members: [127.0.0.1:${echo.port}]
`,
    );
    const [mixed, idle, refused, hungPort, proxied] = await Promise.all(['mixed', 'idle', 'refused', 'hung', 'proxied'].map((s) => lb.port(s)));
    t.ok((await exchange(mixed, 'warm\n')).ok, 'serving');
    await echo.waitForIdle();
    const before = await descriptors(lb);

    let good = 0;
    await Promise.all([
      many(400, 16, async (i) => {
        const r = await exchange(mixed, `hello ${i}\n`);
        if (r.ok) good++;
        else t.comment(`failed: ${r.error} after ${r.ms.toFixed(0)}ms`);
      }),
      // Reset at once, before the member connected or answered.
      many(200, 8, () => client(mixed, (s) => s.resetAndDestroy())),
      // Reset in the middle of a request.
      many(200, 8, () => client(mixed, (s) => s.write('half a requ', () => s.resetAndDestroy()))),
      // Never send: the idle timeout closes them.
      many(50, 50, () => client(idle!, () => {})),
      // A member that refuses, then no member at all once the outlier detector ejects it.
      many(100, 4, () => exchange(refused, 'x\n', 2000)),
      // A member that accepts and never answers: the idle timeout closes both sides.
      many(30, 30, () => exchange(hungPort, 'anyone?\n', 2000)),
      // Garbage where a PROXY header should be.
      many(100, 8, (i) => client(proxied, (s) => s.write(i % 2 ? 'GET / HTTP/1.1\r\n\r\n' : 'PROXY TCP9 1.2.3.4 x y z\r\n'))),
    ]);
    t.equal(good, 400, 'every good exchange succeeded among the bad');

    await until('no connection open in /status', 5_000, async () => {
      const s = JSON.parse((await http('GET', `${lb.admin}/status`)).body) as { services: Array<{ active: number }> };
      return s.services.every((x) => x.active === 0);
    });
    await echo.waitForIdle();
    // The hung member never closes its side: that the proxy left each of its connections is what counts.
    await hung.waitForPeersGone();
    t.pass('every upstream socket was closed at the member');
    let after: Record<number, number> = {};
    // A socket closes in the loop turn after its last event; allow the turns, not a leak.
    await until('descriptors back to where they were', 5_000, async () => {
      after = await descriptors(lb);
      return JSON.stringify(after) === JSON.stringify(before);
    }).catch(() => {});
    t.same(after, before, 'each process holds the descriptors it held before (pid: count)');
  });
}

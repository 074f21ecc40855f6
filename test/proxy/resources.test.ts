// Bad input costs nothing lasting: after a mix of good connections and bad ones
// (clients that reset at once or mid-request, clients that never send, garbage
// PROXY headers, a member that refuses, a member that hangs), every connection is
// gone from /status, every upstream socket is closed at the member, and the
// proxy's processes hold exactly the file descriptors they held before. The same
// for UDP sessions (each with an upstream socket of its own) once they idle out.
// In both process models; run as a child process, so /proc/PID/fd counts only it.
import t, { type Test } from 'tap';
import { connect, type Socket } from 'node:net';
import { exchange } from '../helpers/balancer.js';
import { echoServer, refusingPort, silentServer } from '../helpers/backends.js';
import { http, until } from '../helpers/cli.js';
import { descriptors, steadyDescriptors } from '../helpers/descriptors.js';
import { MODES, startInMode, type ModeBalancer } from '../helpers/modes.js';
import { startUdpBackend, udpClient } from '../helpers/udp-backends.js';

t.setTimeout(90_000);

/** The balancer's processes: the CLI and, under workers, its workers. */
async function pidsOf(lb: ModeBalancer): Promise<number[]> {
  const status = JSON.parse((await http('GET', `${lb.admin}/status`)).body) as { workers?: Array<{ pid: number }> };
  return [lb.cli.child.pid!, ...(status.workers ?? []).map((w) => w.pid)];
}

/** Waits until /status shows no connection or session open, then for each process to hold `before` descriptors. */
async function settled(t: Test, lb: ModeBalancer, pids: number[], before: Record<number, number>): Promise<void> {
  await until('nothing open in /status', 10_000, async () => {
    const s = JSON.parse((await http('GET', `${lb.admin}/status`)).body) as { services: Array<{ active: number }> };
    return s.services.every((x) => x.active === 0);
  });
  let after: Record<number, number> = {};
  // A socket closes in the loop turn after its last event; allow the turns, not a leak.
  await until('descriptors back to where they were', 5_000, () => {
    after = descriptors(pids);
    return JSON.stringify(after) === JSON.stringify(before);
  }).catch(() => {});
  t.same(after, before, 'each process holds the descriptors it held before (pid: count)');
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
    const pids = await pidsOf(lb);
    const before = await steadyDescriptors(pids);

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

    await echo.waitForIdle();
    // The hung member never closes its side: that the proxy left each of its connections is what counts.
    await hung.waitForPeersGone();
    t.pass('every upstream socket was closed at the member');
    await settled(t, lb, pids, before);
  });
}

for (const mode of MODES) {
  t.test(`UDP sessions, answered or not, leave no socket behind once they idle out (${mode})`, async (t) => {
    const echo = await startUdpBackend({ mode: 'echo' });
    const silent = await startUdpBackend({ mode: 'silent' });
    t.teardown(() => Promise.all([echo.close(), silent.close()]));
    const lb = await startInMode(
      t,
      mode,
      `
services:
  - name: answered
    protocol: udp
    listen: 127.0.0.1:0
    idleTimeout: 3s
    healthCheck: { type: none }
    members: [127.0.0.1:${echo.port}]
  - name: unanswered
    protocol: udp
    listen: 127.0.0.1:0
    idleTimeout: 3s
    healthCheck: { type: none }
    members: [127.0.0.1:${silent.port}]
`,
    );
    const [answered, unanswered] = await Promise.all(['answered', 'unanswered'].map((s) => lb.port(s)));
    const pids = await pidsOf(lb);
    const before = await steadyDescriptors(pids);

    // Each client socket is a session of its own, with its own upstream socket in the proxy.
    let replies = 0;
    // A later client may be given an earlier one's port, and so its session: count the distinct ones.
    const sessions = new Set<string>();
    await many(200, 16, async (i) => {
      const c = await udpClient({ host: '127.0.0.1', port: answered! });
      sessions.add(`answered ${c.port}`);
      c.send(`q${i}`);
      if ((await c.next(2000).catch(() => undefined))?.toString() === `q${i}`) replies++;
      await c.close();
    });
    await many(100, 16, async (i) => {
      const c = await udpClient({ host: '127.0.0.1', port: unanswered! });
      sessions.add(`unanswered ${c.port}`);
      // Closed only once sent: dgram sends after a lookup, even of an IP.
      await new Promise((r) => c.socket.send(`lost ${i}`, unanswered!, '127.0.0.1', r));
      await c.close();
    });
    t.equal(replies, 200, 'every query answered');
    await until('the silent member to have every datagram', 5_000, () => silent.received === 100);
    const sum = (d: Record<number, number>) => Object.values(d).reduce((a, b) => a + b, 0);
    const open = sum(descriptors(pids)) - sum(before);
    // Not exactly one per session: on a loaded machine the first may already have idled out.
    t.ok(open > sessions.size / 2, `while the sessions last, they hold sockets (${sessions.size} sessions, ${open} more descriptors)`);
    await settled(t, lb, pids, before);
  });
}

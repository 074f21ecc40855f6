// Balancing under `workers: 2`: each worker rotates over the members on its own, and the
// rotations start apart, so connections spread over the members as one process spreads them.
import t from 'tap';
import type { Socket } from 'node:net';
import { echoServer } from '../helpers/backends.js';
import { startCli, until } from '../helpers/cli.js';
import { access, held } from '../helpers/workers.js';

t.setTimeout(60_000);

const HELD = 12;

for (const balance of ['roundrobin', 'leastconn'] as const) {
  t.test(`${balance}: connections held one after another stay spread within one of even`, async (t) => {
    const a = await echoServer();
    const b = await echoServer();
    t.teardown(() => Promise.all([a.close(), b.close()]));
    const r = await startCli(
      t,
      `workers: 2
admin: 127.0.0.1:0
log: { access: true }
services:
  - name: db
    listen: 127.0.0.1:0
    balance: ${balance}
    healthCheck: { type: none }
    members:
      - "${a.address}"
      - "${b.address}"
`,
    );
    const sockets: Socket[] = [];
    t.teardown(() => sockets.forEach((s) => s.destroy()));
    const spread: Array<[number, number]> = [];
    for (let i = 1; i <= HELD; i++) {
      const s = await held(r.port);
      if (s === undefined) throw new Error(`connection ${i} was closed before it echoed`);
      sockets.push(s);
      await until(`connection ${i} at a member`, 2_000, () => a.open + b.open === i);
      spread.push([a.open, b.open]);
    }
    // Two workers that both started with the first member put a worker's odd connection there
    // each: 2/0 after the first connection on each worker.
    t.ok(spread.every(([x, y]) => Math.abs(x - y) <= 1), `a/b after each: ${spread.map(([x, y]) => `${x}/${y}`).join(' ')}`);

    for (const s of sockets) s.destroy();
    await until('every connection logged', 5_000, () => access(r).length === HELD);
    const perWorker = new Map<unknown, number>();
    for (const l of access(r)) perWorker.set(l.pid, (perWorker.get(l.pid) ?? 0) + 1);
    t.comment(`connections per worker: ${[...perWorker.values()].join(', ')}`);
  });
}

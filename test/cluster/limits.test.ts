// Limits under `workers`: each worker holds its share, so the workers together hold the figure the
// config gives (a listener's maxConnections and maxSessions, a member's maxConnections).
import t from 'tap';
import type { Socket } from 'node:net';
import { shareOf, unsplittable, workerShare } from '../../src/cluster/limits.js';
import type { Config } from '../../src/config/types.js';
import { echoServer } from '../helpers/backends.js';
import { startCli, until } from '../helpers/cli.js';
import { access, held } from '../helpers/workers.js';
import { config as parseConfig } from '../config/helpers.js';

t.setTimeout(60_000);

t.test('shares add up to the limit, the remainder to the first slots; 0 stays no limit', async (t) => {
  const shares = (limit: number, workers: number) => Array.from({ length: workers }, (_, slot) => shareOf(limit, slot, workers));
  t.same(shares(10, 3), [4, 3, 3]);
  t.same(shares(10000, 2), [5000, 5000]);
  t.same(shares(7, 7), [1, 1, 1, 1, 1, 1, 1]);
  t.same(shares(0, 4), [0, 0, 0, 0], 'no limit stays no limit');
  t.same(shares(1, 2), [1, 1], 'below the workers: 1 each, as 0 would mean no limit');
  for (const [limit, workers] of [[100, 3], [999, 8], [5, 4], [64, 64]] as const) {
    t.equal(shares(limit, workers).reduce((a, b) => a + b), limit, `${limit} over ${workers}`);
  }
});

t.test('a worker share of a config; the limits that cannot be split', async (t) => {
  const config: Config = parseConfig(`
workers: 3
services:
  - name: db
    listen: 127.0.0.1:0
    maxConnections: 100
    members:
      - { address: 127.0.0.1:5432, maxConnections: 10 }
      - { address: 127.0.0.1:5433, maxConnections: 2 }
      - 127.0.0.1:5434
  - name: dns
    protocol: udp
    listen: 127.0.0.1:0
    maxSessions: 1
    members: [ "127.0.0.1:53" ]
`);
  const first = workerShare(config, 0, 3);
  const last = workerShare(config, 2, 3);
  t.same(first.services[0]!.members.map((m) => m.maxConnections), [4, 1, 0]);
  t.same(last.services[0]!.members.map((m) => m.maxConnections), [3, 1, 0]);
  t.equal(first.services[0]!.maxConnections, 34);
  t.equal(last.services[0]!.maxConnections, 33);
  t.equal(last.services[1]!.maxSessions, 1);
  t.equal(config.services[0]!.members[0]!.maxConnections, 10, 'the running config is left as it is');
  t.same(unsplittable(config, 3), ['db: member 127.0.0.1:5433 maxConnections 2', 'dns: maxSessions 1']);
  t.same(unsplittable(config, 1), []);
});

t.test('two workers hold a member maxConnections and a listener maxConnections together', async (t) => {
  const a = await echoServer();
  const b = await echoServer();
  const c = await echoServer();
  t.teardown(() => Promise.all([a.close(), b.close(), c.close()]));
  const r = await startCli(
    t,
    `workers: 2
admin: 127.0.0.1:0
log: { access: true }
services:
  - name: db
    listen: 127.0.0.1:0
    balance: first
    maxConnections: 12
    healthCheck: { type: none }
    members:
      - { address: "${a.address}", maxConnections: 4 }
      - "${b.address}"
      - { address: "${c.address}", backup: true, maxConnections: 1 }
`,
  );
  const warning = await r.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('limits below the number of workers'));
  t.same(warning.limits, [`db: member ${c.address} maxConnections 1`], 'the limit two workers cannot split is named');

  const sockets: Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  let refused = 0;
  for (let i = 0; i < 20; i++) {
    const s = await held(r.port);
    if (s) sockets.push(s);
    else refused++;
  }
  await until('the refusals logged', 2_000, () => access(r).length === refused);
  t.ok(sockets.length <= 12, `at most 12 held at once (${sockets.length}; ${refused} refused)`);
  t.equal(sockets.length + refused, 20);
  t.ok(a.open <= 4, `member a holds at most 4 (${a.open})`);
  t.equal(a.open + b.open, sockets.length, 'the rest on b');
  t.equal(c.open, 0);
  for (const s of sockets) s.destroy();
  await until('every connection logged', 5_000, () => access(r).length === 20);
  t.comment(`workers that served: ${new Set(access(r).map((l) => l.pid)).size}`);
});

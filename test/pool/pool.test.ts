import t from 'tap';
import type { BalanceAlgorithm } from '../../src/config/types.js';
import type { Member } from '../../src/pool/member.js';
import { Pool, type PoolOptions, type RoutingMode } from '../../src/pool/pool.js';
import { member, set, tally, to } from './members.js';

type State = 'up' | 'down' | 'draining' | 'disabled' | 'unknown';

function pool(ms: Member[], opts: Partial<PoolOptions> = {}): Pool {
  return new Pool({ balance: 'roundrobin', hashKey: 'sourceIp', failback: 'auto', allBackups: false, panic: false, phase: 0, ...opts }, ms);
}

/** Named members: p* primaries, b* backups; `checked` ones start pending. */
function cast(names: string[], checked = false): Record<string, Member> {
  return Object.fromEntries(names.map((n) => [n, member({ backup: n.startsWith('b'), checked })]));
}

function ids(ms: Record<string, Member>, routing: readonly Member[]): string[] {
  return routing.map((m) => Object.keys(ms).find((k) => ms[k] === m)!);
}

function picks(p: Pool, n: number): Map<Member | undefined, number> {
  return tally(Array.from({ length: n }, (_, i) => p.pick({ clientIp: `198.51.100.${i & 255}`, clientPort: i })));
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Case {
  name: string;
  members: string[];
  states: Record<string, State>;
  opts?: Partial<PoolOptions>;
  routing: string[];
  mode: RoutingMode;
}

const cases: Case[] = [
  { name: 'all pending: spread over pending primaries', members: ['p1', 'p2', 'b1'], states: { p1: 'unknown', p2: 'unknown', b1: 'unknown' }, routing: ['p1', 'p2'], mode: 'pending' },
  { name: 'primaries preferred', members: ['p1', 'p2', 'b1'], states: { p1: 'up', p2: 'up', b1: 'up' }, routing: ['p1', 'p2'], mode: 'primary' },
  { name: 'one primary up is enough', members: ['p1', 'p2', 'b1'], states: { p1: 'down', p2: 'up', b1: 'up' }, routing: ['p2'], mode: 'primary' },
  { name: 'pending primaries before up backups (HAProxy starts servers up)', members: ['p1', 'b1'], states: { p1: 'unknown', b1: 'up' }, routing: ['p1'], mode: 'pending' },
  { name: 'no primary up: first live backup only', members: ['p1', 'b1', 'b2'], states: { p1: 'down', b1: 'up', b2: 'up' }, routing: ['b1'], mode: 'backup' },
  { name: 'first backup down: the next one', members: ['p1', 'b1', 'b2'], states: { p1: 'down', b1: 'down', b2: 'up' }, routing: ['b2'], mode: 'backup' },
  { name: 'allBackups: every live backup', members: ['p1', 'b1', 'b2', 'b3'], states: { p1: 'disabled', b1: 'up', b2: 'draining', b3: 'up' }, opts: { allBackups: true }, routing: ['b1', 'b3'], mode: 'backup' },
  { name: 'primaries down, backups pending', members: ['p1', 'b1'], states: { p1: 'down', b1: 'unknown' }, routing: ['b1'], mode: 'pending' },
  { name: 'draining and disabled members are not routed', members: ['p1', 'p2', 'p3'], states: { p1: 'draining', p2: 'disabled', p3: 'up' }, routing: ['p3'], mode: 'primary' },
  { name: 'all down, no panic: nobody', members: ['p1', 'p2', 'b1'], states: { p1: 'down', p2: 'down', b1: 'down' }, routing: [], mode: 'none' },
  { name: 'all down, panic: spread over the down primaries', members: ['p1', 'p2', 'b1'], states: { p1: 'down', p2: 'down', b1: 'down' }, opts: { panic: true }, routing: ['p1', 'p2'], mode: 'panic' },
  { name: 'panic never uses disabled or draining members', members: ['p1', 'p2', 'b1'], states: { p1: 'disabled', p2: 'draining', b1: 'down' }, opts: { panic: true }, routing: ['b1'], mode: 'panic' },
  { name: 'all disabled, panic: nobody', members: ['p1', 'b1'], states: { p1: 'disabled', b1: 'disabled' }, opts: { panic: true }, routing: [], mode: 'none' },
];

t.test('routing set and mode by member states', async (t) => {
  for (const c of cases) {
    const ms = cast(c.members, true);
    const p = pool(Object.values(ms), c.opts);
    for (const [n, s] of Object.entries(c.states)) to(ms[n], s);
    t.same(ids(ms, p.routing), c.routing, `${c.name}: routing`);
    t.equal(p.mode, c.mode, `${c.name}: mode`);
    const seen = picks(p, 60);
    if (c.routing.length === 0) t.same([...seen.keys()], [undefined], `${c.name}: pick gives undefined`);
    else t.same(new Set(ids(ms, [...seen.keys()] as Member[])), new Set(c.routing), `${c.name}: picks spread over the routing set`);
    p.close();
  }
});

t.test('pending members share connections until checks decide', async (t) => {
  const ms = cast(['p1', 'p2', 'p3'], true);
  const p = pool(Object.values(ms));
  t.equal(p.mode, 'pending');
  const seen = picks(p, 30);
  t.same([...seen.values()], [10, 10, 10]);
  to(ms.p2, 'up');
  t.equal(p.mode, 'primary');
  t.same(ids(ms, p.routing), ['p2']);
});

t.test('failback auto: primaries take traffic back and failback names the backups that served', async (t) => {
  const ms = cast(['p1', 'p2', 'b1', 'b2']);
  const p = pool(Object.values(ms), { allBackups: true });
  const failbacks: string[][] = [];
  p.on('failback', (bs) => failbacks.push(ids(ms, bs)));
  to(ms.p1, 'down');
  to(ms.p2, 'down');
  t.equal(p.mode, 'backup');
  to(ms.p2, 'up');
  t.equal(p.mode, 'primary');
  t.same(ids(ms, p.routing), ['p2']);
  t.same(failbacks, [['b1', 'b2']]);
});

t.test('backups that serve keep serving until a primary is up, not merely pending', async (t) => {
  const ms = cast(['p1', 'b1']);
  const p = pool(Object.values(ms));
  to(ms.p1, 'down');
  t.equal(p.mode, 'backup');
  to(ms.p1, 'unknown'); // e.g. re-checked after maintenance
  t.equal(p.mode, 'backup');
  to(ms.p1, 'up');
  t.equal(p.mode, 'primary');
});

t.test('failback manual: held on backups until releaseFailbackHold()', async (t) => {
  const ms = cast(['p1', 'b1']);
  const p = pool(Object.values(ms), { failback: 'manual' });
  const failbacks: string[][] = [];
  p.on('failback', (bs) => failbacks.push(ids(ms, bs)));
  to(ms.p1, 'down');
  to(ms.p1, 'up');
  t.equal(p.mode, 'backup', 'primary up, still on the backup');
  t.same(ids(ms, p.routing), ['b1']);
  t.same(failbacks, []);
  p.releaseFailbackHold();
  t.equal(p.mode, 'primary');
  t.same(failbacks, [['b1']]);

  // A release before the primary is back ends this hold too: it fails back when the primary comes up.
  to(ms.p1, 'down');
  t.equal(p.mode, 'backup');
  p.releaseFailbackHold();
  to(ms.p1, 'up');
  t.equal(p.mode, 'primary');
  t.same(failbacks, [['b1'], ['b1']]);

  // If the backups fail while holding, a live primary takes over at once.
  to(ms.p1, 'down');
  to(ms.p1, 'up');
  t.equal(p.mode, 'backup');
  to(ms.b1, 'down');
  t.equal(p.mode, 'primary');
});

t.test('holdOnBackups(): a pool that starts while its peers hold (a restarted worker) holds too', async (t) => {
  const ms = cast(['p1', 'b1']);
  const p = pool(Object.values(ms), { failback: 'manual' });
  t.equal(p.mode, 'primary');
  p.holdOnBackups();
  t.equal(p.mode, 'backup', 'on the backup though the primary is up');
  t.ok(p.holdsOnBackups);
  p.releaseFailbackHold();
  t.equal(p.mode, 'primary');
  t.notOk(p.holdsOnBackups);

  const auto = pool(Object.values(cast(['p1', 'b1'])));
  auto.holdOnBackups();
  t.equal(auto.mode, 'primary', 'no hold with failback: auto');
  const noBackup = cast(['p1', 'b1']);
  to(noBackup.b1, 'down');
  const none = pool(Object.values(noBackup), { failback: 'manual' });
  none.holdOnBackups();
  t.equal(none.mode, 'primary', 'no hold without a backup up');
  t.notOk(none.holdsOnBackups);
});

t.test('failback manual: no hold when backups answer first at startup', async (t) => {
  const ms = cast(['p1', 'b1'], true);
  const p = pool(Object.values(ms), { failback: 'manual' });
  to(ms.b1, 'up');
  t.equal(p.mode, 'pending');
  to(ms.p1, 'up');
  t.equal(p.mode, 'primary');
});

t.test("'change' fires only when the routing set or its mode really changes", async (t) => {
  const ms = cast(['p1', 'p2', 'b1'], true);
  const p = pool(Object.values(ms));
  const changes: [string[], RoutingMode][] = [];
  p.on('change', (routing, mode) => changes.push([ids(ms, routing), mode]));
  to(ms.b1, 'up'); // pending primaries still route
  to(ms.p1, 'up');
  to(ms.p2, 'up');
  to(ms.b1, 'down'); // a backup failing while primaries serve
  to(ms.b1, 'draining');
  set(ms.p1, 'agentDrain', false); // a flag that was not set
  set(ms.p1, 'failedCheck', true);
  set(ms.p1, 'ejected', true); // still down
  set(ms.p1, 'failedCheck', false); // still down (ejected)
  t.same(changes, [
    [['p1'], 'primary'],
    [['p1', 'p2'], 'primary'],
    [['p2'], 'primary'],
  ]);
});

t.test("'state' is re-published after the routing set is updated", async (t) => {
  const ms = cast(['p1', 'p2']);
  const p = pool(Object.values(ms));
  const seen: string[][] = [];
  p.on('state', (ev) => {
    seen.push(ids(ms, p.routing));
    t.equal(ev.member, ms.p1);
  });
  to(ms.p1, 'down');
  t.same(seen, [['p2']]);
});

t.test('slow start: a member back from down starts small and grows to its full share', async (t) => {
  t.setTimeout(20_000);
  const slowStart = 4000;
  const a = member({ slowStart });
  const b = member({ slowStart });
  const p = pool([a, b]);
  to(b, 'down');
  to(b, 'up');
  t.ok(b.ramping());
  /** b's share over 1,000 picks, with the share its weight allows before and after. */
  const sample = () => {
    const w0 = b.weight();
    const share = (picks(p, 1000).get(b) ?? 0) / 1000;
    const w1 = b.weight();
    return { share, low: w0 / (1 + w0) - 0.01, high: w1 / (1 + w1) + 0.01 };
  };
  const early = sample();
  t.ok(early.share >= early.low && early.share <= early.high, `early share ${early.share} in [${early.low}, ${early.high}]`);
  t.ok(early.share < 0.15, `early share ${early.share} is small`);
  await until(() => b.weight() >= 0.6, 10_000);
  const later = sample();
  t.ok(later.share >= later.low && later.share <= later.high, `later share ${later.share} in [${later.low}, ${later.high}]`);
  t.ok(later.share > early.share + 0.15, `share grew from ${early.share} to ${later.share}`);
  await until(() => !b.ramping(), 10_000);
  const full = (picks(p, 1000).get(b) ?? 0) / 1000;
  t.ok(Math.abs(full - 0.5) <= 0.002, `full share ${full}`);
  t.comment(`slow start shares: ${early.share}, ${later.share}, ${full}`);
});

t.test('pick leaves members at their connection limit', async (t) => {
  for (const balance of ['roundrobin', 'leastconn', 'random2', 'maglev', 'first'] as BalanceAlgorithm[]) {
    const a = member({ maxConnections: 1 });
    const b = member({ maxConnections: 1 });
    const p = pool([a, b], { balance });
    const first = p.pick({ clientIp: '192.0.2.1', clientPort: 1 })!;
    first.active++;
    const second = p.pick({ clientIp: '192.0.2.1', clientPort: 1 })!;
    t.not(second, first, balance);
    second.active++;
    t.equal(p.pick({ clientIp: '192.0.2.1', clientPort: 1 }), undefined, `${balance}: all full`);
  }
});

t.test('setMembers: kept members keep their state, removed ones are no longer heard', async (t) => {
  const ms = cast(['p1', 'p2', 'p3']);
  const p = pool([ms.p1, ms.p2]);
  to(ms.p1, 'down');
  const changes: string[][] = [];
  p.on('change', (routing) => changes.push(ids(ms, routing)));
  p.setMembers([ms.p1, ms.p3]);
  t.same(ids(ms, p.routing), ['p3']);
  to(ms.p2, 'down'); // removed: no effect
  p.setMembers([ms.p1, ms.p3]); // the same list again: nothing changes
  t.same(changes, [['p3']]);
  t.same(ids(ms, p.members), ['p1', 'p3']);
  t.equal(p.get(ms.p3.id), ms.p3);
  t.equal(p.get('10.255.255.255:1'), undefined);
});

t.test('setOptions: reload switches algorithm and backup policy', async (t) => {
  const ms = cast(['p1', 'b1', 'b2']);
  const p = pool(Object.values(ms));
  to(ms.p1, 'down');
  t.same(ids(ms, p.routing), ['b1']);
  p.setOptions({ ...p.options, allBackups: true, balance: 'first' });
  t.same(ids(ms, p.routing), ['b1', 'b2']);
  t.same([...picks(p, 10).keys()], [ms.b1], 'first: always b1');
  t.equal(p.options.balance, 'first');
});

t.test('an agent weight change reaches maglev through a rebuild', async (t) => {
  const a = member({ weight: 1 });
  const b = member({ weight: 1 });
  const p = pool([a, b], { balance: 'maglev' });
  const keys = Array.from({ length: 2000 }, (_, i) => ({ clientIp: `10.20.${i >> 8}.${i & 255}`, clientPort: 1 }));
  const share = () => keys.filter((k) => p.pick(k) === a).length / keys.length;
  t.ok(Math.abs(share() - 0.5) < 0.05);
  a.setAgentPercent(0);
  t.equal(share(), 0);
  a.setAgentPercent(100);
  t.ok(Math.abs(share() - 0.5) < 0.05);
});

t.test('close: detaches from members and publishes nothing more', async (t) => {
  const ms = cast(['p1', 'p2']);
  const p = pool(Object.values(ms));
  let events = 0;
  p.on('change', () => events++);
  p.on('state', () => events++);
  p.close();
  to(ms.p1, 'down');
  t.equal(events, 0);
  t.equal(ms.p1.listenerCount('state'), 0);
  t.equal(ms.p1.listenerCount('weight'), 0);
});

import { createHash } from 'node:crypto';
import t from 'tap';
import { Maglev, tableSize } from '../../src/pool/balancers/maglev.js';
import type { Member } from '../../src/pool/member.js';
import type { HashKey } from '../../src/config/types.js';
import { member, tally, to } from './members.js';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `172.16.${i >> 8}.${i & 255}`);

/** Members with fixed addresses 10.9.0.100 and up, so tables are comparable across tests and runs. */
const GOLDEN = 'ba1de6a8328c63fbd9757c823017a8ad6409094ba949c55ce8b823359dbd02d1';

function fixed(n: number, weights: number[] = []): Member[] {
  return Array.from({ length: n }, (_, i) => member({ weight: weights[i] ?? 1 }, 100 + i));
}

function build(ms: readonly Member[], hashKey: HashKey = 'sourceIp'): Maglev {
  return new Maglev(ms, { hashKey, phase: 0 });
}

function assign(p: Maglev, keys = KEYS): Map<string, Member | undefined> {
  return new Map(keys.map((k) => [k, p.pick({ clientIp: k, clientPort: 1 })]));
}

function isPrime(n: number): boolean {
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return n > 1;
}

t.test('10,000 client keys spread within 5% of even over 3 and 5 members', async (t) => {
  for (const n of [3, 5]) {
    const counts = tally(assign(build(fixed(n))).values());
    const even = KEYS.length / n;
    const worst = Math.max(...[...counts.values()].map((c) => Math.abs(c - even) / even));
    t.comment(`maglev ${n} members: ${[...counts.values()].join(' / ')} keys, worst ${(worst * 100).toFixed(2)}% from even`);
    t.equal(counts.size, n);
    t.ok(worst <= 0.05, `worst deviation ${worst}`);
  }
});

t.test('table slots follow the weights within 1%', async (t) => {
  for (const weights of [[1, 1, 1], [1, 2, 3], [10, 1], [5, 5, 1, 1]]) {
    const p = build(fixed(weights.length, weights));
    const slots = tally(p.table);
    const total = weights.reduce((a, b) => a + b, 0);
    for (let i = 0; i < p.members.length; i++) {
      const want = p.members[i].configWeight / total;
      const got = (slots.get(i) ?? 0) / p.table.length;
      t.ok(Math.abs(got - want) / want < 0.01, `weights ${weights}: member ${i} holds ${got}, wants ${want}`);
    }
  }
});

t.test('when a member leaves, the keys of the others stay put (>= 99%)', async (t) => {
  for (const n of [3, 5, 10]) {
    const ms = fixed(n);
    const before = assign(build(ms));
    let worst = 1;
    for (const gone of ms) {
      const after = assign(build(ms.filter((m) => m !== gone)));
      let kept = 0;
      let others = 0;
      for (const [k, m] of before) {
        if (after.get(k) === gone || after.get(k) === undefined) t.fail(`${k} still on the member that left`);
        if (m === gone) continue;
        others++;
        if (after.get(k) === m) kept++;
      }
      worst = Math.min(worst, kept / others);
    }
    t.comment(`maglev ${n} members, one leaves: at worst ${(worst * 100).toFixed(2)}% of the other members' keys stay`);
    t.ok(worst >= 0.99, `kept ${worst}`);
  }
});

t.test('when a member joins, keys move only to it, and few of them', async (t) => {
  for (const n of [3, 5]) {
    const ms = fixed(n + 1);
    const before = assign(build(ms.slice(0, n)));
    const after = assign(build(ms));
    let moved = 0;
    let elsewhere = 0;
    for (const [k, m] of before) {
      const now = after.get(k);
      if (now === m) continue;
      moved++;
      if (now !== ms[n]) elsewhere++;
    }
    t.comment(`maglev ${n} → ${n + 1} members: ${moved} keys moved (ideal ${Math.round(KEYS.length / (n + 1))}), ${elsewhere} not to the new member`);
    t.ok(elsewhere / KEYS.length <= 0.01, `moved elsewhere ${elsewhere}`);
    t.ok(moved <= (KEYS.length / (n + 1)) * 1.1, `moved ${moved}`);
  }
});

t.test('the table is deterministic: same members, any order, any process', async (t) => {
  const ms = fixed(5, [1, 2, 1, 3, 1]);
  const a = build(ms);
  const b = build([...ms].reverse());
  const c = build(fixed(5, [1, 2, 1, 3, 1]).reverse()); // separate Member objects with the same ids
  t.same(Buffer.from(a.table.buffer), Buffer.from(b.table.buffer));
  t.same(Buffer.from(a.table.buffer), Buffer.from(c.table.buffer));
  t.same(a.members.map((m) => m.id), c.members.map((m) => m.id));
  // Pinned: a change here means instances of different versions would disagree; change only on purpose.
  const digest = createHash('sha256').update(new Uint8Array(a.table.buffer)).digest('hex');
  t.equal(digest, GOLDEN, 'table digest for 10.9.0.100..104:5432, weights 1,2,1,3,1');
});

t.test('table size is a prime of at least 100 slots per member, stable as members come and go', async (t) => {
  for (const n of [1, 3, 5, 100, 655, 656, 1000, 5000]) {
    const m = tableSize(n);
    t.ok(isPrime(m) && m >= 100 * n && m >= 65537, `${n} members: ${m}`);
  }
  t.equal(tableSize(1), 65537);
  t.equal(tableSize(655), 65537, 'one size up to 655 members, so a member leaving does not remap everyone');
  t.equal(tableSize(656), 131101);
  t.equal(build(fixed(3)).table.length, 65537);
});

t.test('hash key: sourceIp keeps a client on one member across ports; sourceIpPort spreads them', async (t) => {
  const ms = fixed(5);
  const byIp = build(ms, 'sourceIp');
  const byIpPort = build(ms, 'sourceIpPort');
  const ipPicks = new Set<Member | undefined>();
  const portPicks = new Set<Member | undefined>();
  for (let port = 1024; port < 1124; port++) {
    ipPicks.add(byIp.pick({ clientIp: '192.0.2.1', clientPort: port }));
    portPicks.add(byIpPort.pick({ clientIp: '192.0.2.1', clientPort: port }));
  }
  t.equal(ipPicks.size, 1);
  t.equal(portPicks.size, 5);
});

t.test('a retry walks on through the table: deterministic, never an excluded member', async (t) => {
  const ms = fixed(4);
  const p = build(ms);
  const q = build(fixed(4));
  for (const k of KEYS.slice(0, 500)) {
    const first = p.pick({ clientIp: k, clientPort: 1 })!;
    const exclude = new Set([first]);
    const second = p.pick({ clientIp: k, clientPort: 1, exclude })!;
    t.not(second, first);
    const other = q.pick({ clientIp: k, clientPort: 1, exclude: new Set(q.members.filter((m) => m.id === first.id)) });
    if (other?.id !== second.id) t.fail(`instances disagree on the retry for ${k}`);
  }
  t.equal(p.pick({ clientIp: KEYS[0], clientPort: 1, exclude: new Set(ms) }), undefined);
});

t.test('slow start does not reshape the table; the agent percentage does', async (t) => {
  const steady = fixed(3);
  const ramping = [member({ slowStart: 60_000 }, 100), ...fixed(3).slice(1)];
  to(ramping[0], 'down');
  to(ramping[0], 'up');
  t.ok(ramping[0].ramping());
  t.same(Buffer.from(build(ramping).table.buffer), Buffer.from(build(steady).table.buffer));
  const agent = fixed(3);
  agent[0].setAgentPercent(50);
  const slots = tally(build(agent).table);
  t.ok(Math.abs((slots.get(0) ?? 0) / 65537 - 0.2) < 0.002, 'half weight: 1 of 5 slots');
});

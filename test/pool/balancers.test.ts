import t from 'tap';
import type { BalanceAlgorithm } from '../../src/config/types.js';
import { createPolicy } from '../../src/pool/balancers/index.js';
import type { Member } from '../../src/pool/member.js';
import type { BalancePolicy, PickContext } from '../../src/pool/types.js';
import { member, members, tally } from './members.js';

const ALGOS: BalanceAlgorithm[] = ['roundrobin', 'leastconn', 'random2', 'maglev', 'first'];
const ctx: PickContext = { clientIp: '192.0.2.7', clientPort: 40000 };

function policy(algo: BalanceAlgorithm, ms: readonly Member[], phase = 0): BalancePolicy {
  return createPolicy(algo, ms, { hashKey: 'sourceIpPort', phase });
}

function pickN(p: BalancePolicy, n: number, opts: { hold?: boolean } = {}): Member[] {
  const out: Member[] = [];
  for (let i = 0; i < n; i++) {
    const m = p.pick({ clientIp: `198.51.100.${i & 255}`, clientPort: 1024 + i });
    if (m === undefined) throw new Error('no member picked');
    if (opts.hold) m.active++;
    out.push(m);
  }
  return out;
}

function names(ms: readonly Member[], picks: Member[]): string {
  return picks.map((m) => 'abcdefgh'[ms.indexOf(m)]).join('');
}

t.test('smooth weighted round robin: 5,1,1 gives a,a,b,a,c,a,a (NGINX)', async (t) => {
  const ms = members([5, 1, 1]);
  t.equal(names(ms, pickN(policy('roundrobin', ms), 14)), 'aabacaa'.repeat(2));
});

t.test('round robin and idle leastconn split exactly by weight over a full cycle', async (t) => {
  const cases = [[1], [1, 1, 1], [3, 2, 1], [5, 1, 1], [100, 50, 1], [7, 0, 3], [2, 4, 8, 16]];
  for (const algo of ['roundrobin', 'leastconn'] as const) {
    for (const weights of cases) {
      const ms = members(weights);
      const p = policy(algo, ms);
      const total = weights.reduce((a, b) => a + b, 0);
      for (let cycle = 0; cycle < 3; cycle++) {
        const counts = tally(pickN(p, total));
        t.same(ms.map((m) => counts.get(m) ?? 0), weights, `${algo} ${weights.join(',')} cycle ${cycle}`);
      }
    }
  }
});

t.test('leastconn with connections held: active counts follow the weights exactly', async (t) => {
  for (const weights of [[3, 2, 1], [1, 1, 1, 1], [10, 1], [4, 4, 1]]) {
    const ms = members(weights);
    const p = policy('leastconn', ms);
    const total = weights.reduce((a, b) => a + b, 0);
    pickN(p, total * 10, { hold: true });
    t.same(ms.map((m) => m.active), weights.map((w) => w * 10), `weights ${weights.join(',')}`);
  }
});

t.test('leastconn goes to the least loaded and breaks ties in turn, not always to the first', async (t) => {
  const ms = members([1, 1, 1]);
  const p = policy('leastconn', ms);
  ms[0].active = 5;
  ms[1].active = 2;
  ms[2].active = 2;
  const picks = pickN(p, 6);
  t.equal(names(ms, picks), 'bcbcbc', 'b and c tie; a is busier');
  ms[2].active = 1;
  t.equal(p.pick(ctx), ms[2]);
  // Connections closing on `a` bring it back first.
  ms[0].active = 0;
  t.equal(p.pick(ctx), ms[0]);
});

t.test('leastconn: a pick the load decided counts as a turn, so the next tie goes to the other member', async (t) => {
  const ms = members([1, 1]);
  const p = policy('leastconn', ms);
  t.equal(p.pick(ctx), ms[0], 'a tie: the first turn');
  ms[0].active = 1;
  t.equal(p.pick(ctx), ms[1], 'a is busier');
  ms[0].active = 0;
  t.equal(p.pick(ctx), ms[0], 'a tie again: a, as b was served last');
});

t.test('a phase starts the rotation that many turns in (workers: slot N starts N turns in)', async (t) => {
  for (const algo of ['roundrobin', 'leastconn'] as const) {
    const ms = members([5, 1, 1]);
    t.equal(names(ms, pickN(policy(algo, ms, 1), 7)), 'abacaaa', `${algo} 5,1,1 from turn 1`);
    const two = members([1, 1]);
    t.equal(names(two, pickN(policy(algo, two, 1), 4)), 'baba', `${algo} 1,1 from turn 1`);
    t.equal(names(two, pickN(policy(algo, two, 2), 4)), 'abab', `${algo} 1,1 from turn 2`);
  }
});

t.test('random2: idle picks split by weight within 1 point over 200,000 picks', async (t) => {
  const weights = [1, 2, 3, 4];
  const ms = members(weights);
  const n = 200_000;
  const counts = tally(pickN(policy('random2', ms), n));
  const shares = ms.map((m) => (counts.get(m) ?? 0) / n);
  t.comment(`random2 idle shares ${shares.map((s) => (s * 100).toFixed(2) + '%').join(' ')}`);
  // Expected 10/20/30/40%; one point is over 10 standard deviations at this sample size.
  shares.forEach((s, i) => t.ok(Math.abs(s - weights[i] / 10) < 0.01, `member ${i} share ${s}`));
});

t.test('random2: with connections held, load follows the weights within 2 points', async (t) => {
  const weights = [1, 3, 6];
  const ms = members(weights);
  const n = 20_000;
  pickN(policy('random2', ms), n, { hold: true });
  const shares = ms.map((m) => m.active / n);
  t.comment(`random2 held shares ${shares.map((s) => (s * 100).toFixed(2) + '%').join(' ')}`);
  shares.forEach((s, i) => t.ok(Math.abs(s - weights[i] / 10) < 0.02, `member ${i} share ${s}`));
});

t.test('weights are read at pick time: agent percentage applies without a rebuild', async (t) => {
  for (const algo of ['roundrobin', 'leastconn'] as const) {
    const ms = members([1, 1]);
    const p = policy(algo, ms);
    pickN(p, 10);
    ms[0].setAgentPercent(25); // weights now 0.25 : 1
    const counts = tally(pickN(p, 500));
    t.equal(counts.get(ms[0]), 100, `${algo}: a takes 1 in 5`);
    ms[0].setAgentPercent(0);
    t.notOk(pickN(p, 20).includes(ms[0]), `${algo}: weight 0 takes nothing new`);
  }
});

t.test('first fills members in configured order up to maxConnections', async (t) => {
  const ms = [member({ maxConnections: 2 }), member({ maxConnections: 3 }), member({ maxConnections: 0 })];
  const p = policy('first', ms);
  t.equal(names(ms, pickN(p, 9, { hold: true })), 'aabbbcccc');
  // A connection closing on `a` makes room there first.
  ms[0].active--;
  t.equal(p.pick(ctx), ms[0]);
  const unlimited = members([1, 1]);
  t.equal(names(unlimited, pickN(policy('first', unlimited), 5, { hold: true })), 'aaaaa', 'no limit: always the first');
});

t.test('every policy honours exclude, skips full members, and returns undefined when none may take it', async (t) => {
  for (const algo of ALGOS) {
    t.equal(policy(algo, []).pick(ctx), undefined, `${algo}: empty set`);
    const ms = members([1, 2, 3]);
    const p = policy(algo, ms);
    for (let i = 0; i < 50; i++) {
      const c = { clientIp: `203.0.113.${i}`, clientPort: 5000 + i };
      t.equal(p.pick({ ...c, exclude: new Set([ms[0], ms[2]]) }), ms[1], `${algo}: only b left (${i})`);
      const m = p.pick({ ...c, exclude: new Set([ms[1]]) });
      t.ok(m === ms[0] || m === ms[2], `${algo}: never the excluded b (${i})`);
    }
    t.equal(p.pick({ ...ctx, exclude: new Set(ms) }), undefined, `${algo}: all excluded`);

    const limited = [member({ maxConnections: 1 }), member({ maxConnections: 1 })];
    const lp = policy(algo, limited);
    limited[0].active = 1;
    for (let i = 0; i < 20; i++) t.equal(lp.pick({ clientIp: `203.0.113.${i}`, clientPort: i }), limited[1], `${algo}: full a skipped`);
    limited[1].active = 1;
    t.equal(lp.pick(ctx), undefined, `${algo}: all full`);
  }
});

t.test('every policy skips members at weight 0 and returns undefined when all are', async (t) => {
  for (const algo of ALGOS) {
    const ms = members([0, 1]);
    const p = policy(algo, ms);
    for (let i = 0; i < 20; i++) t.equal(p.pick({ clientIp: `203.0.113.${i}`, clientPort: i }), ms[1], `${algo} (${i})`);
    t.equal(policy(algo, members([0, 0])).pick(ctx), undefined, `${algo}: all weight 0`);
  }
});

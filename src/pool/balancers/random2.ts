/**
 * Power of two choices, weighted: two members drawn at random in proportion to
 * their weights, and the one with fewer active connections per unit of weight
 * takes the connection (Envoy's least-request with choice count 2). Cheap, no
 * shared state, and close to least-connections under load.
 *
 * Weights are read from `member.weight()` on every pick (slow start, agent).
 */
import type { Member } from '../member.js';
import type { BalancePolicy, PickContext, PolicyFactory } from '../types.js';
import { canTake } from './eligible.js';

export const random2: PolicyFactory = (members) => new Random2(members);

class Random2 implements BalancePolicy {
  readonly #members: readonly Member[];
  /** Running sums of the eligible members' weights, refilled on every pick. */
  readonly #cumulative: Float64Array;

  constructor(members: readonly Member[]) {
    this.#members = members;
    this.#cumulative = new Float64Array(members.length);
  }

  pick(ctx: PickContext): Member | undefined {
    const members = this.#members;
    const cumulative = this.#cumulative;
    const now = Date.now();
    let total = 0;
    let last = -1;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      const w = canTake(m, ctx.exclude) ? m.weight(now) : 0;
      if (w > 0) {
        total += w;
        last = i;
      }
      cumulative[i] = total;
    }
    if (last < 0) return undefined;
    const a = members[this.#draw(total, last)];
    const b = members[this.#draw(total, last)];
    // a.active/a.w <= b.active/b.w, without dividing; on a tie the first draw stands.
    return a.active * b.weight(now) <= b.active * a.weight(now) ? a : b;
  }

  /** The index whose weight interval holds a uniform draw in [0, total); `last` is the last member with weight. */
  #draw(total: number, last: number): number {
    const cumulative = this.#cumulative;
    const r = Math.random() * total;
    let lo = 0;
    let hi = last;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/**
 * Weighted least connections: the member with the fewest active connections
 * per unit of weight. Ties go round robin, weighted, as NGINX's least_conn
 * does, so idle members share by weight instead of the first one taking all
 * (HAProxy rotates equal keys to the same end).
 *
 * Weights are read from `member.weight()` on every pick (slow start, agent).
 */
import type { Member } from '../member.js';
import type { BalancePolicy, PickContext, PolicyFactory } from '../types.js';
import { canTake } from './eligible.js';

export const leastconn: PolicyFactory = (members) => new LeastConn(members);

class LeastConn implements BalancePolicy {
  readonly #members: readonly Member[];
  /** Smooth round-robin state for breaking ties. */
  readonly #current: Float64Array;
  /** Weights read once per pick, so both passes see the same numbers. */
  readonly #weights: Float64Array;

  constructor(members: readonly Member[]) {
    this.#members = members;
    this.#current = new Float64Array(members.length);
    this.#weights = new Float64Array(members.length);
  }

  pick(ctx: PickContext): Member | undefined {
    const members = this.#members;
    const weights = this.#weights;
    const now = Date.now();
    let best = -1;
    let ties = false;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      const w = canTake(m, ctx.exclude) ? m.weight(now) : 0;
      weights[i] = w;
      if (w <= 0) continue;
      if (best < 0) {
        best = i;
        continue;
      }
      // active/w < best.active/best.w, without dividing.
      const lhs = m.active * weights[best];
      const rhs = members[best].active * w;
      if (lhs < rhs) {
        best = i;
        ties = false;
      } else if (lhs === rhs) {
        ties = true;
      }
    }
    if (best < 0) return undefined;
    if (ties) best = this.#breakTie(best);
    return members[best];
  }

  /** Smooth weighted round robin over the members whose load equals the first best's. */
  #breakTie(first: number): number {
    const members = this.#members;
    const weights = this.#weights;
    const current = this.#current;
    const activeB = members[first].active;
    const weightB = weights[first];
    let best = first;
    let total = 0;
    for (let i = first; i < members.length; i++) {
      const w = weights[i];
      if (w <= 0 || members[i].active * weightB !== activeB * w) continue;
      current[i] += w;
      total += w;
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    return best;
  }
}

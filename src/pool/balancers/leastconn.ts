/**
 * Weighted least connections: the member with the fewest active connections
 * per unit of weight. Among equally loaded members the turn goes round robin,
 * weighted (smooth, as NGINX's least_conn breaks ties), and every pick counts
 * as a turn, one the load alone decided too: the next tie goes to the member
 * served least lately, as HAProxy rotates equal keys to the same end. So idle
 * members share by weight instead of the first one taking all, and a worker's
 * picks alternate whatever order its connections come and go in.
 *
 * Weights are read from `member.weight()` on every pick (slow start, agent).
 */
import type { Member } from '../member.js';
import type { BalancePolicy, PickContext, PolicyFactory } from '../types.js';
import { canTake } from './eligible.js';

export const leastconn: PolicyFactory = (members, opts) => new LeastConn(members, opts.phase);

class LeastConn implements BalancePolicy {
  readonly #members: readonly Member[];
  /**
   * Smooth round-robin state: each pick, every member that may take one gains its weight and the
   * chosen gives back the total. A member the load keeps out gathers a lead; it only orders ties.
   */
  readonly #current: Float64Array;
  /** Weights read once per pick, so both passes see the same numbers. */
  readonly #weights: Float64Array;

  constructor(members: readonly Member[], phase: number) {
    this.#members = members;
    this.#current = new Float64Array(members.length);
    this.#weights = new Float64Array(members.length);
    // The turns the phase skips are taken as if every member were equally loaded.
    for (let i = 0; i < phase; i++) this.#turn(undefined, false);
  }

  pick(ctx: PickContext): Member | undefined {
    return this.#turn(ctx.exclude, true);
  }

  /** One turn: among the least loaded (`byLoad`; else among all), the one whose turn it is. */
  #turn(exclude: ReadonlySet<Member> | undefined, byLoad: boolean): Member | undefined {
    const members = this.#members;
    const weights = this.#weights;
    const now = Date.now();
    let least = -1;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      const w = canTake(m, exclude) ? m.weight(now) : 0;
      weights[i] = w;
      if (w <= 0) continue;
      // active/w < least.active/least.w, without dividing.
      if (least < 0 || (byLoad && m.active * weights[least] < members[least].active * w)) least = i;
    }
    if (least < 0) return undefined;
    const current = this.#current;
    const activeL = members[least].active;
    const weightL = weights[least];
    let chosen = least;
    let total = 0;
    for (let i = 0; i < members.length; i++) {
      const w = weights[i];
      if (w <= 0) continue;
      current[i] += w;
      total += w;
      if (current[i] > current[chosen] && (!byLoad || members[i].active * weightL === activeL * w)) chosen = i;
    }
    current[chosen] -= total;
    return members[chosen];
  }
}

/**
 * Smooth weighted round robin, as NGINX does it (ngx_http_upstream_get_peer): on every pick,
 * each member that may take the connection gains its weight, and the one with the most wins and
 * gives back the total. Weights 5,1,1 give a,a,b,a,c,a,a: the heavy member's turns are spread
 * out rather than bunched. Round robin and leastconn are both this rotation; leastconn lets only
 * the least loaded win, while every member still gains, so a pick the load decided counts as a
 * turn too.
 *
 * Weights are read from `member.weight()` on every pick, so slow start and agent weights take
 * effect without a rebuild.
 */
import type { Member } from '../member.js';
import type { BalancePolicy, PickContext } from '../types.js';
import { canTake } from './eligible.js';

export class Rotation implements BalancePolicy {
  readonly #members: readonly Member[];
  readonly #byLoad: boolean;
  /** A member the load keeps from winning gathers a lead here; it only orders ties. */
  readonly #current: Float64Array;
  /** Weights read once per pick, so both passes see the same numbers. */
  readonly #weights: Float64Array;

  /** `byLoad`: only the members with the fewest active connections per unit of weight may win; `phase`: turns taken before the first pick. */
  constructor(members: readonly Member[], opts: { byLoad: boolean; phase: number }) {
    this.#members = members;
    this.#byLoad = opts.byLoad;
    this.#current = new Float64Array(members.length);
    this.#weights = new Float64Array(members.length);
    // The phase's turns are taken as if every member were equally loaded.
    for (let i = 0; i < opts.phase; i++) this.#turn(undefined, false);
  }

  pick(ctx: PickContext): Member | undefined {
    return this.#turn(ctx.exclude, this.#byLoad);
  }

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

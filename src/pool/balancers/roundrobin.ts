/**
 * Smooth weighted round robin, as NGINX does it (ngx_http_upstream_get_peer):
 * every eligible member's current weight grows by its weight, the largest
 * wins and gives back the total. Weights 5,1,1 give a,a,b,a,c,a,a: the heavy
 * member's turns are spread out rather than bunched.
 *
 * Weights are read from `member.weight()` on every pick, so slow start and
 * agent weights take effect without a rebuild.
 */
import type { Member } from '../member.js';
import type { BalancePolicy, PickContext, PolicyFactory } from '../types.js';
import { canTake } from './eligible.js';

export const roundrobin: PolicyFactory = (members, opts) => new RoundRobin(members, opts.phase);

class RoundRobin implements BalancePolicy {
  readonly #members: readonly Member[];
  readonly #current: Float64Array;

  constructor(members: readonly Member[], phase: number) {
    this.#members = members;
    this.#current = new Float64Array(members.length);
    for (let i = 0; i < phase; i++) this.#turn(undefined);
  }

  pick(ctx: PickContext): Member | undefined {
    return this.#turn(ctx.exclude);
  }

  #turn(exclude: ReadonlySet<Member> | undefined): Member | undefined {
    const members = this.#members;
    const current = this.#current;
    const now = Date.now();
    let total = 0;
    let best = -1;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      if (!canTake(m, exclude)) continue;
      const w = m.weight(now);
      if (w <= 0) continue;
      current[i] += w;
      total += w;
      if (best < 0 || current[i] > current[best]) best = i;
    }
    if (best < 0) return undefined;
    current[best] -= total;
    return members[best];
  }
}

import type { HashKey } from '../config/types.js';
import type { Member } from './member.js';

/** What a balancer may use to choose: the client, and members already tried for this connection. */
export interface PickContext {
  clientIp: string;
  clientPort: number;
  /** Members that already failed this connection (retries); never picked again. */
  exclude?: ReadonlySet<Member>;
}

/**
 * One balancing policy. It is built over the pool's current routing set and
 * rebuilt whenever that set changes; weights are read from `member.weight()`
 * at pick time where the policy allows (slow start, agent weights).
 */
export interface BalancePolicy {
  pick(ctx: PickContext): Member | undefined;
}

export interface PolicyOptions {
  hashKey: HashKey;
  /**
   * Turns the rotation takes before the first pick (roundrobin, and leastconn among equals):
   * under `workers`, worker `slot` starts `slot` turns in. Each worker rotates on its own, and
   * rotations that all started with the first member would send each worker's first (and every
   * odd) connection there, where HAProxy's threads share one rotation.
   */
  phase: number;
}

export type PolicyFactory = (members: readonly Member[], opts: PolicyOptions) => BalancePolicy;

import type { BalanceAlgorithm } from '../../config/types.js';
import type { Member } from '../member.js';
import type { Balancer, BalancerOptions } from '../types.js';

// Placeholder until the balancer policies land: first eligible member not excluded.
export function createBalancer(_algo: BalanceAlgorithm, members: readonly Member[], _opts: BalancerOptions): Balancer {
  return { pick: (ctx) => members.find((m) => !ctx.exclude?.has(m)) };
}

import type { BalanceAlgorithm } from '../../config/types.js';
import type { Member } from '../member.js';
import type { BalancePolicy, PolicyOptions } from '../types.js';

// Placeholder until the balancer policies land: first eligible member not excluded.
export function createPolicy(_algo: BalanceAlgorithm, members: readonly Member[], _opts: PolicyOptions): BalancePolicy {
  return { pick: (ctx) => members.find((m) => !ctx.exclude?.has(m)) };
}

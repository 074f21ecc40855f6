/** The balancing policies by their config name (`balance:`). */
import type { BalanceAlgorithm } from '../../config/types.js';
import type { Member } from '../member.js';
import type { BalancePolicy, PolicyFactory, PolicyOptions } from '../types.js';
import { first } from './first.js';
import { leastconn } from './leastconn.js';
import { maglev } from './maglev.js';
import { random2 } from './random2.js';
import { roundrobin } from './roundrobin.js';

const policies: Record<BalanceAlgorithm, PolicyFactory> = { roundrobin, leastconn, random2, maglev, first };

export function createPolicy(algo: BalanceAlgorithm, members: readonly Member[], opts: PolicyOptions): BalancePolicy {
  return policies[algo](members, opts);
}

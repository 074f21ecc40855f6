/**
 * Switchyard's programmatic API.
 *
 *   import { createBalancer, loadConfigFile } from 'switchyard';
 *   const lb = createBalancer(await loadConfigFile('switchyard.yaml'));
 *   await lb.start();
 *   console.log(lb.status());
 *   await lb.stop();
 */
import { Switchyard, type BalancerOptions } from './balancer.js';
import type { Config } from './config/types.js';

export function createBalancer(config: Config, options?: BalancerOptions): Switchyard {
  return new Switchyard(config, options);
}

export { Switchyard, type BalancerOptions, type ReloadResult } from './balancer.js';
export { loadConfigFile, parseConfig } from './config/load.js';
export type * from './config/types.js';
export { SwitchyardError, codes, type ErrorCode } from './errors.js';
export type { Member, MemberState, StateChange, Cause } from './pool/member.js';
export type { SessionRecord, EndReason } from './proxy/types.js';

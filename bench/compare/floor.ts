/**
 * The Node.js floor as a column (`--compare floor`): a relay on Switchyard's raw handles with
 * nothing else, in as many processes as Switchyard has workers (floor-relay.ts). Switchyard
 * against it shows what its own work costs; it against HAProxy shows what Node.js costs.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startRelay } from './relay.js';
import type { RunningTarget, Target, TargetOptions } from './target.js';

const ENTRY = fileURLToPath(new URL('./floor-relay.js', import.meta.url));

export const floor: Target = {
  name: 'floor',
  activeChecks: false,
  withoutChecks: 'no health checks',
  missing: () => null,
  version: () =>
    `bare relay on Switchyard's raw handles, ${process.version}, Switchyard's worker count of processes with SO_REUSEPORT (one where Node.js lacks it)`,
  unsupported: () => null,
  start(options: TargetOptions): Promise<RunningTarget> {
    return startRelay(ENTRY, options, options.workers ?? availableParallelism());
  },
};

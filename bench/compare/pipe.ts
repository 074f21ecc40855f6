/** The plain Node `socket.pipe` proxy as a column (`--compare pipe`): what Node gives for free. */
import { fileURLToPath } from 'node:url';
import { startRelay } from './relay.js';
import type { RunningTarget, Target, TargetOptions } from './target.js';

const ENTRY = fileURLToPath(new URL('./pipe-proxy.js', import.meta.url));

export const pipe: Target = {
  name: 'pipe',
  activeChecks: false,
  withoutChecks: 'no health checks',
  missing: () => null,
  version: () => `plain Node socket.pipe proxy, ${process.version}, one process`,
  unsupported: () => null,
  start(options: TargetOptions): Promise<RunningTarget> {
    return startRelay(ENTRY, options, 1);
  },
};

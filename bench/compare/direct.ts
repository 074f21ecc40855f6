/** The no-proxy limit: the same load sent straight to the first member. */
import type { RunningTarget, Target, TargetOptions } from './target.js';

export const direct: Target = {
  name: 'direct',
  activeChecks: false,
  missing: () => null,
  version: () => 'straight to a backend',
  unsupported: () => null,
  async start(options: TargetOptions): Promise<RunningTarget> {
    return {
      pid: undefined,
      config: '',
      address(service) {
        const s = options.services.find((x) => x.name === service);
        if (!s?.members[0]) throw new Error(`no member for service ${service}`);
        return s.members[0];
      },
      async stop() {},
    };
  },
};

/**
 * HAProxy `balance first`: the first member in configured order with room
 * takes the connection, so the next one only gets traffic once the first is
 * full (`maxConnections`). With no limit (0) the first member takes all:
 * active-passive within one group, and idle members can be switched off.
 * Weights do not order members here; a member at weight 0 is skipped.
 */
import type { Member } from '../member.js';
import type { PickContext, PolicyFactory } from '../types.js';
import { canTake } from './eligible.js';

export const first: PolicyFactory = (members) => ({
  pick(ctx: PickContext): Member | undefined {
    const now = Date.now();
    for (const m of members) if (canTake(m, ctx.exclude) && m.weight(now) > 0) return m;
    return undefined;
  },
});

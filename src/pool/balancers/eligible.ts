import type { Member } from '../member.js';

/**
 * Whether a member may take this connection: not already tried for it, and
 * under its own connection limit (as NGINX skips peers at `max_conns`).
 * Weight is the policy's business: a member at weight 0 (agent `0%`) takes
 * no new connections, as in HAProxy.
 */
export function canTake(m: Member, exclude: ReadonlySet<Member> | undefined): boolean {
  if (exclude !== undefined && exclude.has(m)) return false;
  return m.configMaxConnections === 0 || m.active < m.configMaxConnections;
}

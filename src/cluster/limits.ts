/**
 * Each worker's share of the limits a config sets, so that together the workers hold each limit
 * to its figure, as HAProxy's threads share one `maxconn`: a listener's `maxConnections` and
 * `maxSessions`, and a member's `maxConnections`. A worker counts only its own connections, so
 * it gets the limit divided by the workers, the remainder going to the first slots (10 over 3
 * workers: 4, 3, 3). A limit below the number of workers cannot be split (0 means no limit), so
 * every worker gets 1 of it and the total may reach the number of workers: `unsplittable` names
 * those for a warning.
 */
import type { Config } from '../config/types.js';

export function shareOf(limit: number, slot: number, workers: number): number {
  if (limit === 0) return 0;
  return Math.max(1, Math.floor(limit / workers) + (slot < limit % workers ? 1 : 0));
}

/** The config as worker `slot` (0 … workers − 1) applies it. */
export function workerShare(config: Config, slot: number, workers: number): Config {
  const share = (limit: number) => shareOf(limit, slot, workers);
  const services = config.services.map((s) => ({
    ...s,
    maxConnections: share(s.maxConnections),
    maxSessions: share(s.maxSessions),
    members: s.members.map((m) => ({ ...m, maxConnections: share(m.maxConnections) })),
  }));
  return { ...config, services };
}

/** The limits below the number of workers, as `service: what limit`. */
export function unsplittable(config: Config, workers: number): string[] {
  const out: string[] = [];
  const below = (limit: number) => limit > 0 && limit < workers;
  for (const s of config.services) {
    if (s.protocol === 'tcp' && below(s.maxConnections)) out.push(`${s.name}: maxConnections ${s.maxConnections}`);
    if (s.protocol === 'udp' && below(s.maxSessions)) out.push(`${s.name}: maxSessions ${s.maxSessions}`);
    for (const m of s.members) if (below(m.maxConnections)) out.push(`${s.name}: member ${m.id} maxConnections ${m.maxConnections}`);
  }
  return out;
}

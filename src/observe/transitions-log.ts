/**
 * Member state changes, each logged once with its cause: which check and what
 * it saw, an ejection, an admin action. A member going down is a warning;
 * every other change is information.
 *
 * And the pool's routing mode when it changes, after the member change that
 * caused it (as HAProxy's "Running on backup" and "has no server available"):
 * traffic moving to backups, to down members (panic) or to nowhere is a warning.
 */
import type { Logger } from 'pino';
import { renderFlags, type StateChange } from '../pool/member.js';
import type { Pool, RoutingMode } from '../pool/pool.js';

export interface TransitionsSource {
  readonly name: string;
  readonly pool: Pick<Pool, 'on' | 'off' | 'mode'>;
}

const WARN_MODES: ReadonlySet<RoutingMode> = new Set(['backup', 'panic', 'none']);

/** Logs every transition the pool publishes; returns the function that stops it. */
export function watchTransitions(logger: Logger, service: TransitionsSource): () => void {
  let mode = service.pool.mode;
  let watching = true;
  const onMode = (): void => {
    const to = service.pool.mode;
    if (!watching || to === mode) return;
    const fields = { service: service.name, from: mode, to };
    mode = to;
    if (WARN_MODES.has(to)) logger.warn(fields, 'routing mode');
    else logger.info(fields, 'routing mode');
  };
  const onState = ({ member, from, to, cause }: StateChange): void => {
    const fields = {
      service: service.name,
      member: member.id,
      from,
      to,
      source: cause.source,
      detail: cause.detail,
      health: renderFlags(member.flags),
    };
    if (to === 'down') logger.warn(fields, 'member state');
    else logger.info(fields, 'member state');
    onMode();
  };
  // A mode change without a member change (a reload, a failback release) is logged once the change is published.
  const onChange = (): void => queueMicrotask(onMode);
  service.pool.on('state', onState);
  service.pool.on('change', onChange);
  return () => {
    watching = false;
    service.pool.off('state', onState);
    service.pool.off('change', onChange);
  };
}

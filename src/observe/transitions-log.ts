/**
 * Member state changes, each logged once with its cause: which check and what
 * it saw, an ejection, an admin action. A member going down is a warning;
 * every other change is information.
 */
import type { Logger } from 'pino';
import { renderFlags, type StateChange } from '../pool/member.js';
import type { Pool } from '../pool/pool.js';

export interface TransitionsSource {
  readonly name: string;
  readonly pool: Pick<Pool, 'on' | 'off'>;
}

/** Logs every transition the pool publishes; returns the function that stops it. */
export function watchTransitions(logger: Logger, service: TransitionsSource): () => void {
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
  };
  service.pool.on('state', onState);
  return () => {
    service.pool.off('state', onState);
  };
}

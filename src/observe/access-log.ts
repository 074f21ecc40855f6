/**
 * The access log: one `access` line per closed TCP connection or ended UDP
 * session, carrying every field of the listener's SessionRecord (client,
 * member, bytes, duration, how it ended, retries).
 */
import type { Logger } from 'pino';
import type { Listener, SessionRecord } from '../proxy/types.js';

export interface AccessLogSource {
  readonly listener: Pick<Listener, 'on' | 'off'>;
}

/** Logs each session as it ends; returns the function that stops it. */
export function watchAccessLog(logger: Logger, service: AccessLogSource): () => void {
  // The record is handed to pino as is: no copy per connection.
  const onEnd = (record: SessionRecord): void => logger.info(record, 'access');
  service.listener.on('session-end', onEnd);
  return () => {
    service.listener.off('session-end', onEnd);
  };
}

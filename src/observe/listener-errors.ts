/**
 * Logs a listener's accept errors (out of descriptors, EMFILE, under a flood):
 * the listener goes on accepting, and the log says so at most once a second
 * per service, with how many were left unsaid, so a flood cannot flood the log.
 */
import type { Logger } from 'pino';
import type { Listener } from '../proxy/types.js';

export interface ListenerErrorSource {
  readonly name: string;
  readonly listener: Pick<Listener, 'on' | 'off'>;
}

export function watchListenerErrors(logger: Logger, service: ListenerErrorSource, everyMs = 1000): () => void {
  let last = 0;
  let unsaid = 0;
  const onError = (err: Error): void => {
    const now = Date.now();
    if (now - last < everyMs) {
      unsaid++;
      return;
    }
    logger.warn(
      { service: service.name, err: err.message, code: (err as NodeJS.ErrnoException).code, suppressed: unsaid },
      'accepting a connection failed; still accepting',
    );
    last = now;
    unsaid = 0;
  };
  service.listener.on('accept-error', onError);
  return () => {
    service.listener.off('accept-error', onError);
  };
}

/**
 * The process logger: pino, JSON lines, level names and ISO times so a log is
 * readable without pino-pretty. Output to stdout is asynchronous (sonic-boom,
 * sync: false) so logging never blocks the data path; pino registers an exit
 * hook that flushes what is buffered, and `logger.flush(cb)` does it on demand.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/types.js';

export type { Logger };

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; stdout (asynchronously) when left out. Tests pass a stream to read them back. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false });
  return pino(
    {
      level: options.level,
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Our errors already say their cause in their message; pino's default `err` serializer would append it again.
      // This one keeps the message as is and logs the cause (with its code) as a field of its own.
      serializers: { err: pino.stdSerializers.errWithCause },
    },
    destination,
  );
}

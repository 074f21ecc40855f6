/**
 * Reads for the request/reply probes (redis, postgres, mysql) over an Exchange:
 * a failed read says what the probe was waiting for ("timeout after 500ms
 * waiting for greeting"), and a goodbye (QUIT, Terminate) lets the server close
 * the session as it expects a polite client to.
 */
import { ExchangeError, MAX_REPLY_BYTES, type Exchange } from './exchange.js';

/** How long the server may take to close after a goodbye before the socket is destroyed. */
const GOODBYE_GRACE_MS = 1000;
const CRLF = Buffer.from('\r\n');

/** One frame, as long as `frameLength` says once enough bytes are in. */
export async function readFrame(
  ex: Exchange,
  frameLength: (received: Buffer) => number | undefined,
  what: string,
): Promise<Buffer> {
  try {
    return await ex.readFrame(frameLength);
  } catch (err) {
    if (err instanceof ExchangeError) throw new ExchangeError(err.kind, `${err.message} waiting for ${what}`);
    throw err;
  }
}

/** Exactly `n` bytes (at most MAX_REPLY_BYTES). */
export function readExact(ex: Exchange, n: number, what: string): Promise<Buffer> {
  if (n === 0) return Promise.resolve(Buffer.alloc(0));
  if (n > MAX_REPLY_BYTES) return Promise.reject(new Error(`${what} too large (${n} bytes)`));
  return readFrame(ex, () => n, what);
}

/** One CRLF-terminated line, without its CRLF. */
export async function readLine(ex: Exchange, what: string): Promise<Buffer> {
  const line = await readFrame(
    ex,
    (b) => {
      const end = b.indexOf(CRLF);
      return end < 0 ? undefined : end + 2;
    },
    what,
  );
  return line.subarray(0, line.length - 2);
}

/** Sends the protocol's goodbye and half-closes; the socket is destroyed when the server closes, or after a grace period. */
export function goodbye(ex: Exchange, bytes: Buffer): void {
  const socket = ex.socket;
  if (socket.destroyed || ex.ended) {
    socket.destroy();
    return;
  }
  socket.setTimeout(GOODBYE_GRACE_MS, () => socket.destroy());
  socket.end(bytes);
}

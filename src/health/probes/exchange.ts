/**
 * A probe's TCP conversation with a member: connect (abortable), write bytes,
 * wait until the bytes received satisfy a test, close. Every wait ends on the
 * check's AbortSignal, on the member closing, or when the reply outgrows a
 * bound; the socket is destroyed on every way out, so a probe cannot leak one.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ProbeTarget } from './types.js';

/** Most reply bytes a probe holds while waiting for a match. */
export const MAX_REPLY_BYTES = 64 * 1024;

export type ExchangeFailure = 'aborted' | 'refused' | 'connect' | 'closed' | 'overflow' | 'error';

/** Why an exchange stopped; `message` is short and meant for a check's detail. */
export class ExchangeError extends Error {
  readonly kind: ExchangeFailure;
  constructor(kind: ExchangeFailure, message: string) {
    super(message);
    this.name = 'ExchangeError';
    this.kind = kind;
  }
}

/** The text of an abort: the checker aborts with `Error("timeout after 500ms")`. */
export function abortText(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name !== 'AbortError') return r.message;
  if (typeof r === 'string' && r !== '') return r;
  return 'aborted';
}

/** Short words for socket errors a check commonly meets. */
export function socketErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by member';
    case 'EPIPE':
      return 'connection closed by member while sending';
    case 'ETIMEDOUT':
      return 'connect timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'member unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'cannot resolve member host';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/** Bytes rendered for a log line: printable ASCII kept, the rest escaped, cut at `max` bytes. */
export function printable(buf: Buffer, max = 64): string {
  let out = '';
  const n = Math.min(buf.length, max);
  for (let i = 0; i < n; i++) {
    const c = buf[i]!;
    if (c === 0x5c) out += '\\\\';
    else if (c === 0x22) out += '\\"';
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x09) out += '\\t';
    else out += '\\x' + c.toString(16).padStart(2, '0');
  }
  return buf.length > max ? `"${out}"…(${buf.length} bytes)` : `"${out}"`;
}

export interface UntilOptions {
  /** Resolve with `false` when the member closes first, instead of failing. */
  orEnd?: boolean;
  /** Fail once this many unconsumed bytes are held without a match. */
  maxBytes?: number;
}

export class Exchange {
  readonly socket: Socket;
  /** Milliseconds the TCP connect took. */
  readonly connectMs: number;
  #received: Buffer = Buffer.alloc(0);
  #ended = false;
  #failure: ExchangeError | undefined;
  #signal: AbortSignal;
  #wake: (() => void) | undefined;

  constructor(socket: Socket, connectMs: number, signal: AbortSignal) {
    this.socket = socket;
    this.connectMs = connectMs;
    this.#signal = signal;
    socket.on('data', (chunk: Buffer) => {
      this.#received = this.#received.length === 0 ? chunk : Buffer.concat([this.#received, chunk]);
      this.#wake?.();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on('error', (err) => {
      this.#failure ??= new ExchangeError('error', socketErrorText(err));
      this.#wake?.();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  /** Bytes received and not yet consumed. */
  get received(): Buffer {
    return this.#received;
  }

  /** True once the member has closed its side. */
  get ended(): boolean {
    return this.#ended;
  }

  write(data: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Removes and returns the first `n` received bytes. */
  consume(n: number): Buffer {
    const head = this.#received.subarray(0, n);
    this.#received = this.#received.subarray(n);
    return head;
  }

  /** Forgets everything received so far (a send-expect step starts afresh after its send). */
  discard(): void {
    this.#received = Buffer.alloc(0);
  }

  /**
   * Waits until `test(received)` holds; tests at once with what is already here. One wait at a time.
   * Resolves `true` on a match, or `false` when the member closed and `orEnd` is set;
   * rejects with an ExchangeError otherwise.
   */
  until(test: (received: Buffer) => boolean, opts: UntilOptions = {}): Promise<boolean> {
    const maxBytes = opts.maxBytes ?? MAX_REPLY_BYTES;
    return new Promise<boolean>((resolve, reject) => {
      const settle = (): boolean => {
        if (this.#received.length > 0 && test(this.#received)) return done(() => resolve(true));
        if (this.#signal.aborted) return done(() => reject(new ExchangeError('aborted', abortText(this.#signal))));
        if (this.#received.length > maxBytes) {
          return done(() => reject(new ExchangeError('overflow', `reply exceeded ${maxBytes} bytes`)));
        }
        if (this.#failure) {
          const f = this.#failure;
          return done(() => reject(f));
        }
        if (this.#ended) {
          if (opts.orEnd) return done(() => resolve(false));
          return done(() => reject(new ExchangeError('closed', 'connection closed by member')));
        }
        return false;
      };
      const onAbort = () => settle();
      const done = (fin: () => void): true => {
        this.#wake = undefined;
        this.#signal.removeEventListener('abort', onAbort);
        fin();
        return true;
      };
      if (settle()) return;
      this.#wake = settle;
      this.#signal.addEventListener('abort', onAbort);
    });
  }

  /** Waits for a whole frame: `frameLength` returns its length once the received bytes hold one. */
  async readFrame(frameLength: (received: Buffer) => number | undefined, opts: UntilOptions = {}): Promise<Buffer> {
    let n: number | undefined;
    await this.until((b) => (n = frameLength(b)) !== undefined && n <= b.length, opts);
    return this.consume(n!);
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Connects to the target; rejects with an ExchangeError ('refused', 'connect', 'aborted').
 * The socket is destroyed when the signal aborts at any time, so callers need only
 * `close()` on their own way out.
 */
export function openExchange(target: ProbeTarget, signal: AbortSignal): Promise<Exchange> {
  return new Promise<Exchange>((resolve, reject) => {
    if (signal.aborted) {
      reject(new ExchangeError('aborted', abortText(signal) + ' before connecting'));
      return;
    }
    const started = performance.now();
    const socket = connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    const unhook = () => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal.removeEventListener('abort', onConnectAbort);
    };
    const giveUp = () => {
      unhook();
      // A late error from the abandoned connect must find a listener, or it would crash the process.
      socket.on('error', ignore);
      socket.destroy();
    };
    // Settle at once on abort: the socket's 'close' would come only after the checker stopped listening.
    const onConnectAbort = () => {
      giveUp();
      reject(new ExchangeError('aborted', abortText(signal) + ' while connecting'));
    };
    const onError = (err: NodeJS.ErrnoException) => {
      giveUp();
      reject(new ExchangeError(err.code === 'ECONNREFUSED' ? 'refused' : 'connect', socketErrorText(err)));
    };
    const onConnect = () => {
      unhook();
      // From here an abort destroys the socket; the Exchange's own waits report it.
      const onAbort = () => socket.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('close', () => signal.removeEventListener('abort', onAbort));
      resolve(new Exchange(socket, performance.now() - started, signal));
    };
    signal.addEventListener('abort', onConnectAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', onConnect);
  });
}

function ignore(): void {}

/** Milliseconds rendered for a detail: "1.2ms", "35ms". */
export function ms(n: number): string {
  return n < 10 ? `${n.toFixed(1)}ms` : `${Math.round(n)}ms`;
}

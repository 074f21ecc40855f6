/**
 * A probe's UDP conversation with a member: one socket connected to the
 * member, so only its datagrams arrive and an ICMP port unreachable surfaces
 * as an error ("port unreachable") instead of a silent timeout. Aborting the
 * signal closes the socket and fails the pending receive.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { abortText, socketErrorText } from './exchange.js';
import type { ProbeTarget } from './types.js';

/** Datagrams held unread; more than a probe's reply, so extra ones are dropped. */
const MAX_QUEUED = 16;

interface Waiter {
  what: string;
  resolve: (msg: Buffer) => void;
  reject: (err: Error) => void;
}

export class DatagramExchange {
  readonly #socket: Socket;
  readonly #signal: AbortSignal;
  readonly #queue: Buffer[] = [];
  #waiter: Waiter | undefined;
  #failure: string | undefined;
  #closed = false;

  private constructor(socket: Socket, signal: AbortSignal) {
    this.#socket = socket;
    this.#signal = signal;
    socket.on('message', (msg) => {
      const waiter = this.#waiter;
      if (waiter !== undefined) {
        this.#waiter = undefined;
        waiter.resolve(msg);
      } else if (this.#queue.length < MAX_QUEUED) {
        this.#queue.push(msg);
      }
    });
    socket.on('error', (err) => this.#fail(describe(err)));
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** A socket connected to the target; rejects when the address cannot be used. */
  static open(target: ProbeTarget, signal: AbortSignal): Promise<DatagramExchange> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new Error(`${abortText(signal)} before sending`));
        return;
      }
      const socket = createSocket(isIP(target.host) === 6 ? 'udp6' : 'udp4');
      let settled = false;
      // Stays the socket's error listener once failed, so a late error (after a close mid-lookup) is swallowed.
      const fail = (reason: string): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        socket.close();
        reject(new Error(reason));
      };
      // A host name is looked up before the connect; the lookup may outlast the check.
      const onAbort = (): void => fail(`${abortText(signal)} before sending`);
      const onError = (err: Error): void => fail(describe(err));
      signal.addEventListener('abort', onAbort, { once: true });
      socket.on('error', onError);
      socket.connect(target.port, target.host, () => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        resolve(new DatagramExchange(socket, signal));
      });
    });
  }

  send(datagram: Buffer): void {
    if (this.#closed) return;
    this.#socket.send(datagram, (err) => {
      if (err) this.#fail(describe(err));
    });
  }

  /** The next datagram from the member. */
  receive(what: string): Promise<Buffer> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#failure !== undefined) return Promise.reject(new Error(`${this.#failure} waiting for ${what}`));
    return new Promise((resolve, reject) => {
      this.#waiter = { what, resolve, reject };
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.#socket.close();
  }

  #fail(reason: string): void {
    this.#failure ??= reason;
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    this.#waiter = undefined;
    waiter.reject(new Error(`${this.#failure} waiting for ${waiter.what}`));
  }

  readonly #onAbort = (): void => {
    this.#fail(abortText(this.#signal));
    this.close();
  };
}

function describe(err: unknown): string {
  // On a connected UDP socket, ECONNREFUSED is the member's ICMP port unreachable.
  return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'port unreachable' : socketErrorText(err);
}

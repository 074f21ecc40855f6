/**
 * The UDP listener's sessions, found by client address and port.
 *
 * A lookup runs for every client datagram, so it builds no string key: a
 * session is found by its client's port (a small-integer Map key) and the
 * address compared. Only a client whose port another address already holds
 * in the table (clients behind different hosts on one fixed source port) is
 * filed under an `address port` string, in a second map consulted only while
 * it is not empty.
 */
import type { UdpSession } from './udp-session.js';

/** What the table needs of a session: its client's address and port as the socket reports them. */
type Keyed = Pick<UdpSession, 'clientAddress' | 'clientPort'>;

export class UdpSessionTable<S extends Keyed = UdpSession> {
  readonly #byPort = new Map<number, S>();
  readonly #sharedPort = new Map<string, S>();

  get size(): number {
    return this.#byPort.size + this.#sharedPort.size;
  }

  get(address: string, port: number): S | undefined {
    const s = this.#byPort.get(port);
    if (s !== undefined && s.clientAddress === address) return s;
    return this.#sharedPort.size === 0 ? undefined : this.#sharedPort.get(sharedKey(address, port));
  }

  /** Files a session whose client has none in the table. */
  add(s: S): void {
    if (!this.#byPort.has(s.clientPort)) this.#byPort.set(s.clientPort, s);
    else this.#sharedPort.set(sharedKey(s.clientAddress, s.clientPort), s);
  }

  has(s: S): boolean {
    return this.get(s.clientAddress, s.clientPort) === s;
  }

  /** Removes the session; false when it was not in the table (already ended). */
  delete(s: S): boolean {
    if (this.#byPort.get(s.clientPort) === s) return this.#byPort.delete(s.clientPort);
    if (this.#sharedPort.size === 0) return false;
    const key = sharedKey(s.clientAddress, s.clientPort);
    return this.#sharedPort.get(key) === s && this.#sharedPort.delete(key);
  }

  /** Every session; deleting sessions while iterating is safe (Map iteration semantics). */
  *values(): IterableIterator<S> {
    yield* this.#byPort.values();
    yield* this.#sharedPort.values();
  }
}

function sharedKey(address: string, port: number): string {
  return address + ' ' + port;
}

/**
 * UDP datagrams on Node's own libuv handle (UDPWrap), without dgram.Socket, for the data path.
 *
 * Why: per datagram, dgram.Socket's send() normalises and validates its arguments, builds a
 * closure, an array and a request object, and with a callback schedules a nextTick; its
 * receive re-emits each datagram as an event. A proxy sends every datagram it receives.
 * Measured on a 2-core box, one process, 16 clients with 8 queries each in flight: a bare
 * relay used 28.2 µs of CPU per query through dgram and 25.7 µs on the handle; Switchyard
 * 26.6 µs before and 23.7 µs after (8 and 10 alternating pairs).
 *
 * The handle comes from `process.binding('udp_wrap')`: internal, but on process.binding's
 * allow list (no warning), the object dgram itself is built on, and used in this one file
 * only (as `net/raw-socket.ts` does for TCP).
 *
 * A listening socket is still bound by dgram, because under node:cluster the primary binds it
 * and shares it with the workers (or, with reusePort, each worker binds its own, which dgram
 * sets up too); `adopt` then takes its datagrams and sends. Upstream sockets
 * are opened here. Events go to a table of functions shared by all sockets of a kind, with
 * the owner as argument, so a socket costs no closures; a closed socket reports nothing more.
 */
import { Buffer } from 'node:buffer';
import type { Socket as DgramSocket } from 'node:dgram';
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { errnoError } from './errno.js';

/** The sender of a datagram, as the handle reports it. */
export interface Sender {
  address: string;
  family: string;
  port: number;
}

export interface DatagramEvents<T> {
  /** A datagram; `msg` is the owner's to keep. */
  message(owner: T, msg: Buffer, from: Sender): void;
  /** A socket connected to a name is connected (the name was looked up); see RawUdp.connect. */
  connect(owner: T): void;
  /**
   * A socket error: on a connected socket, an ICMP error from its peer (ECONNREFUSED and the like),
   * reported by a receive, or by a send (`sending`: that datagram was not sent); or a name that did
   * not resolve. Always after the call that caused it has returned.
   */
  error(owner: T, err: NodeJS.ErrnoException, sending: boolean): void;
}

interface UdpHandle {
  onmessage: ((nread: number, handle: UdpHandle, buf?: Buffer, from?: Sender) => void) | null;
  bind(ip: string, port: number, flags: number): number;
  connect(ip: string, port: number): number;
  /** Connected: (req, list, count, hasCallback); else (req, list, count, port, ip, hasCallback). Returns bytes + 1 when sent at once, 0 when queued, or an error. */
  send(req: SendReq, list: Buffer[], count: number, ...rest: [boolean] | [number, string, boolean]): number;
  recvStart(): number;
  close(): void;
  socket?: RawUdp;
}

interface UdpHandle6 extends UdpHandle {
  bind6: UdpHandle['bind'];
  connect6: UdpHandle['connect'];
  send6: UdpHandle['send'];
}

interface SendReq {
  oncomplete: (this: SendReq, status: number) => void;
  socket: RawUdp | undefined;
  /** Kept alive while libuv still points into it. */
  buffer: Buffer | undefined;
}

interface UdpBinding {
  UDP: new () => UdpHandle6;
  SendWrap: new () => SendReq;
}

const binding = (process as unknown as { binding(name: string): unknown }).binding;
const udp = binding('udp_wrap') as UdpBinding;

/** A handle of the family, with dgram's choice of methods for IPv6 (the same functions, named apart). */
function newHandle(family: 4 | 6): UdpHandle {
  const h = new udp.UDP();
  if (family === 6) {
    h.bind = h.bind6;
    h.connect = h.connect6;
    h.send = h.send6;
  }
  return h;
}

/** Where dgram keeps a socket's handle: its state, under a symbol of internal/dgram. */
function handleOf(socket: DgramSocket): UdpHandle {
  const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const handle = state === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: UdpHandle }>)[state]?.handle;
  if (handle === undefined || typeof handle.send !== 'function') {
    throw new Error(`cannot take over a dgram socket's handle on Node.js ${process.version}`);
  }
  return handle;
}

/** One array for every send: the handle reads it before send() returns. */
const ONE: Buffer[] = [Buffer.alloc(0)];

/**
 * A request used while sends complete at once (the usual case): libuv keeps a request object
 * only for a datagram it has to queue, so until one does, the same object serves.
 */
let spareSend: SendReq | undefined;

export class RawUdp {
  #handle: UdpHandle;
  readonly #events: DatagramEvents<any>;
  readonly #owner: unknown;
  #closed = false;
  #connected = false;
  /** Opened here (and closed here), not adopted from a dgram socket. */
  readonly #own: boolean;

  private constructor(handle: UdpHandle, events: DatagramEvents<any>, owner: unknown, own: boolean) {
    this.#handle = handle;
    this.#events = events;
    this.#owner = owner;
    this.#own = own;
    RawUdp.#take(handle, this);
  }

  static #take(handle: UdpHandle, socket: RawUdp): void {
    handle.socket = socket;
    handle.onmessage = RawUdp.#onMessage;
  }

  /** Takes a bound dgram socket's datagrams (they no longer reach its 'message' event) and sends through it. */
  static adopt<T>(socket: DgramSocket, events: DatagramEvents<T>, owner: T): RawUdp {
    return new RawUdp(handleOf(socket), events, owner, false);
  }

  /**
   * A socket on an ephemeral port, connected to host:port: it receives only that peer's
   * datagrams, and ICMP errors from it. For an IP it is connected when this returns; for a
   * name, `connect` follows the lookup (an `error` if it fails), and `connected` says false till then.
   */
  static connect<T>(host: string, port: number, events: DatagramEvents<T>, owner: T): RawUdp {
    const family = isIP(host);
    const s = new RawUdp(newHandle(family === 6 ? 6 : 4), events, owner, true);
    if (family !== 0) {
      s.#connectTo(host, port, family);
      return s;
    }
    lookup(host, (err, address, fam) => {
      if (s.#closed) return;
      if (err !== null) {
        s.#events.error(s.#owner, err, false);
        return;
      }
      if (fam === 6) {
        s.#handle.close();
        s.#handle = newHandle(6);
        RawUdp.#take(s.#handle, s);
      }
      s.#connectTo(address, port, fam);
      if (s.#connected) s.#events.connect(s.#owner);
    });
    return s;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Sends to the connected peer; a failure comes as an `error` with `sending`. */
  send(msg: Buffer): void {
    if (this.#closed || !this.#connected) return;
    const req = RawUdp.#request();
    ONE[0] = msg;
    RawUdp.#sent(req, msg, this.#handle.send(req, ONE, 1, true), this);
  }

  /** Sends to an address (an IP of the socket's family). Failures are not reported: the datagram is lost, as on a network. */
  sendTo(msg: Buffer, port: number, ip: string): void {
    if (this.#closed) return;
    const req = RawUdp.#request();
    ONE[0] = msg;
    RawUdp.#sent(req, msg, this.#handle.send(req, ONE, 1, port, ip, false), undefined);
  }

  /** Closes a socket opened by connect(); an adopted one is only let go of (its dgram socket closes it). Reports nothing more. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#own) this.#handle.close();
    else this.#handle.onmessage = null;
  }

  #connectTo(ip: string, port: number, family: number): void {
    const h = this.#handle;
    let err = h.bind(family === 6 ? '::' : '0.0.0.0', 0, 0);
    if (err === 0) err = h.connect(ip, port);
    if (err === 0) err = h.recvStart();
    if (err === 0) this.#connected = true;
    else process.nextTick(RawUdp.#failLater, this, errnoError(err, 'connect'), false);
  }

  static #request(): SendReq {
    let req = spareSend;
    spareSend = undefined;
    if (req === undefined) {
      req = new udp.SendWrap();
      req.oncomplete = RawUdp.#afterSend;
    }
    return req;
  }

  /**
   * After a send: sent at once, the request is spare again; queued, it is libuv's until the send completes
   * and holds the bytes till then; refused, the error goes to `reportTo` (after this returns), if any.
   */
  static #sent(req: SendReq, msg: Buffer, result: number, reportTo: RawUdp | undefined): void {
    if (result > 0) spareSend = req;
    else if (result === 0) {
      req.buffer = msg;
      req.socket = reportTo;
    } else if (reportTo !== undefined) process.nextTick(RawUdp.#failLater, reportTo, errnoError(result, 'send'), true);
  }

  /** A queued send completed (only requests sent with a callback, those of connected sockets, come here). */
  static #afterSend(this: SendReq, status: number): void {
    const s = this.socket;
    this.socket = this.buffer = undefined;
    if (status < 0 && s !== undefined && !s.#closed) s.#events.error(s.#owner, errnoError(status, 'send'), true);
  }

  static #failLater(socket: RawUdp, err: NodeJS.ErrnoException, sending: boolean): void {
    if (!socket.#closed) socket.#events.error(socket.#owner, err, sending);
  }

  static #onMessage(this: UdpHandle, nread: number, _handle: UdpHandle, buf?: Buffer, from?: Sender): void {
    const s = this.socket;
    if (s === undefined || s.#closed) return;
    if (nread < 0) s.#events.error(s.#owner, errnoError(nread, 'recvmsg'), false);
    else s.#events.message(s.#owner, buf!, from!);
  }
}

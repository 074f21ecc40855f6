/**
 * A TCP connection on Node's own libuv stream handle (TCPWrap), without net.Socket.
 *
 * Why: net.Socket is a Duplex stream; each connection builds two stream states and each read
 * and write goes through the stream machinery (push, nextTicks, a write request, callbacks).
 * A proxy needs none of it: read a chunk, write it to the other side, stop reading while the
 * other side is full. Measured on a 2-core box, one process, wrk through a bare relay:
 * net.Socket 4.8k new connections/s and 46.5k keep-alive requests/s; on the handle 8.7k and
 * 62.6k (HAProxy, one thread: 12.2k and 59.7k). net.Socket stays for everything else
 * (health checks, admin, load generators): only the data path needs this.
 *
 * The handle comes from `process.binding('tcp_wrap')` and `('stream_wrap')`: internal, but
 * on process.binding's allow list (no warning), the same objects net.Socket is built on, and
 * used in this one file only.
 *
 * Semantics are net.Socket's with allowHalfOpen: `end` on the peer's FIN; end() sends ours
 * once queued writes are out; the socket closes itself once both directions are done; an
 * error closes it; destroy() closes it at once (unsent bytes dropped) and reports `close`
 * before it returns (libuv's close callback would cost a call into JS per socket and tell
 * nothing more). write() returns false when bytes had to be queued: stop the source until
 * `drain`. Events go to a table of functions shared by all sockets of a kind, with the
 * owner as argument, so a connection costs no closures.
 */
// Buffer imported: the global one is a getter on globalThis, called again on every read.
import { Buffer } from 'node:buffer';
import { lookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { errnoError } from './errno.js';

/** What a socket reports; `owner` is the object the socket was given (a session). */
export interface SocketEvents<T> {
  connect(owner: T): void;
  data(owner: T, chunk: Buffer): void;
  end(owner: T): void;
  drain(owner: T): void;
  error(owner: T, err: NodeJS.ErrnoException): void;
  close(owner: T): void;
}

export interface PeerAddress {
  address: string;
  family: string;
  port: number;
}

/** libuv's UV_EOF, the same on every platform. */
const UV_EOF = -4095;

/**
 * Where every socket reads (libuv offers 64 KiB a read): each chunk is copied out at once into
 * a buffer of its own size (small ones are slices of Node's pool), so the shared one is free
 * again before any other read. Node's own way allocates 64 KiB per read, shrinks it, and
 * leaves it to the garbage collector: 7% more CPU per keep-alive request (wrk through a bare
 * relay, three interleaved pairs of runs).
 */
const SHARED_READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * Reads this large mean bulk transfer: copying every one, or allocating one per read as Node
 * does (glibc then grows and trims its heap around them: brk and page faults, 4.5 Gbit/s
 * through one stream where a kept buffer gives 10), costs more than a buffer the socket keeps
 * reading into. The socket holds that buffer only while its reads are bulk: two smaller reads
 * in a row give it back to a free list, as HAProxy releases a connection's empty buffers to
 * its pool. One is not enough: on loopback a bulk stream reads 64 KiB and 29 KiB by turns. So a
 * connection that moved a large result (a database client's pooled connection) gives the
 * buffer back at its next small exchange instead of holding 64 KiB per direction for life,
 * and the next bulk transfer takes one from the list without allocating. (An idle socket
 * keeps it: only a read can change the buffer libuv reads into.)
 */
const BULK_READ = 32 * 1024;
const SMALL_READS_TO_RELEASE = 2;
const OWN_BUFFER_SIZE = 64 * 1024;
/** Free bulk buffers kept for reuse, at most this many (4 MiB); more are left to the garbage collector. */
const SPARE_BUFFERS_MAX = 64;
const spareBuffers: Buffer[] = [];

interface TcpHandle {
  /** Called after each read into the handle's user buffer; a Buffer returned becomes the next one. */
  onread: ((this: TcpHandle) => Buffer | undefined) | null;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, data: Buffer): number;
  shutdown(req: ShutdownReq): number;
  close(): void;
  setNoDelay(enable: boolean): number;
  useUserBuffer(buffer: Buffer): void;
  getpeername(out: object): number;
  getsockname(out: object): number;
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  socket?: RawSocket;
}

interface WriteReq {
  oncomplete: (this: WriteReq, status: number) => void;
  socket: RawSocket | undefined;
  /** Kept alive while libuv still points into it. */
  buffer: Buffer | undefined;
}

/** Without `oncomplete`: libuv's completion then costs no call into JS (see #shutdown). */
interface ShutdownReq {
  handle: TcpHandle;
}

interface ConnectReq {
  oncomplete: (this: ConnectReq, status: number) => void;
  socket: RawSocket;
}

interface TcpBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectReq;
  constants: { SOCKET: number };
}

interface StreamBinding {
  WriteWrap: new () => WriteReq;
  ShutdownWrap: new () => ShutdownReq;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

const binding = (process as unknown as { binding(name: string): unknown }).binding;
const tcp = binding('tcp_wrap') as TcpBinding;
const stream = binding('stream_wrap') as StreamBinding;
const state = stream.streamBaseState;
const { kReadBytesOrError, kLastWriteWasAsync } = stream;

function noop(): void {}

/** For a socket being let go of: whatever it still reports is of no interest. */
export const IGNORE: SocketEvents<unknown> = { connect: noop, data: noop, end: noop, drain: noop, error: noop, close: noop };

/**
 * A write request used while writes complete at once (the usual case): libuv keeps a request
 * object only for a write it has to queue, so until one does, the same object serves.
 */
let spareWrite: WriteReq | undefined;

export class RawSocket {
  #handle: TcpHandle;
  /** The table and its owner are typed together where they are set (setEvents). */
  #events: SocketEvents<any>;
  #owner: unknown;
  #connecting = false;
  /**
   * The handle has its socket (connect was called): reading may start before the connect
   * completes, which registers the socket with epoll once for both instead of twice.
   */
  #hasSocket = true;
  #wantRead = false;
  #reading = false;
  #readEnded = false;
  #writeEnded = false;
  /**
   * An end() inside the `connect` event shuts down at once; #afterConnect, which shuts down after that
   * event for an end() made while connecting, then finds the socket ended too: shut down once.
   */
  #shutdownSent = false;
  #closed = false;
  /** Writes libuv has queued and not completed. */
  #pending = 0;
  /** The owner lets this socket read into a buffer of its own (see reuseReadBuffer). */
  #mayReuse = false;
  /** Reads smaller than BULK_READ in a row while holding a bulk buffer. */
  #smallReads = 0;
  #ownBuffer: Buffer | undefined;
  /** A name's further addresses, tried in turn when a connect fails (as net.connect does). */
  #nextAddresses: LookupAddress[] | undefined;
  #port = 0;
  /** The address being connected to, for error texts. */
  #target = '';

  private constructor(handle: TcpHandle, events: SocketEvents<any>, owner: unknown) {
    this.#handle = handle;
    this.#events = events;
    this.#owner = owner;
    RawSocket.#adopt(handle, this);
  }

  static #adopt(handle: TcpHandle, socket: RawSocket): void {
    handle.socket = socket;
    handle.onread = RawSocket.#onRead;
    handle.useUserBuffer(SHARED_READ_BUFFER);
  }

  /** Wraps a handle accepted by a listening server (see `takeConnections`). Nothing is read until resume(). */
  static accept<T>(handle: unknown, events: SocketEvents<T>, owner: T): RawSocket {
    const h = handle as TcpHandle;
    h.setNoDelay(true);
    return new RawSocket(h, events, owner);
  }

  /**
   * Connects to host:port (an IP, or a name looked up as net.connect does); `connect` or
   * `error` follows. Throws, as net.connect does, for a port that cannot be connected to.
   */
  static connect<T>(host: string, port: number, events: SocketEvents<T>, owner: T): RawSocket {
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      throw Object.assign(new RangeError(`cannot connect to port ${port}`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    const s = new RawSocket(new tcp.TCP(tcp.constants.SOCKET), events, owner);
    s.#connecting = true;
    s.#hasSocket = false;
    s.#port = port;
    const family = isIP(host);
    if (family !== 0) s.#connectTo(host, family);
    else {
      lookup(host, { all: true }, (err, addresses) => {
        if (s.#closed) return;
        if (err !== null) s.#fail(err);
        else {
          s.#nextAddresses = addresses.slice(1);
          s.#connectTo(addresses[0]!.address, addresses[0]!.family);
        }
      });
    }
    return s;
  }

  /** The peer of an accepted handle; undefined once it is gone (reset while queued). */
  static peerOf(handle: unknown): PeerAddress | undefined {
    const out = {} as PeerAddress;
    return (handle as TcpHandle).getpeername(out) === 0 ? out : undefined;
  }

  /** Closes an accepted handle without serving it (a refused connection). */
  static refuse(handle: unknown): void {
    new RawSocket(handle as TcpHandle, IGNORE, undefined).destroy();
  }

  /** Sends later events to another table and owner (a socket changing hands or roles). */
  setEvents<T>(events: SocketEvents<T>, owner: T): void {
    this.#events = events;
    this.#owner = owner;
  }

  /**
   * From now on a `data` chunk may be a view of a buffer this socket reads into again:
   * the owner promises to keep no chunk past its `data` call and to pause this socket
   * while a write of one is queued (write() returned false) until `drain`. The socket
   * reads into such a buffer only while its reads are bulk; other chunks are fresh.
   */
  reuseReadBuffer(): void {
    this.#mayReuse = true;
  }

  /** Bytes are queued: wait for `drain` before writing more. */
  get needDrain(): boolean {
    return this.#pending > 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  localAddress(): PeerAddress | undefined {
    const out = {} as PeerAddress;
    return this.#handle.getsockname(out) === 0 ? out : undefined;
  }

  /** Writes a chunk; false when it had to be queued (then `drain` follows once all are out). */
  write(chunk: Buffer): boolean {
    if (this.#closed || this.#writeEnded) return false;
    let req = spareWrite;
    spareWrite = undefined;
    if (req === undefined) {
      req = new stream.WriteWrap();
      req.oncomplete = RawSocket.#afterWrite;
    }
    const err = this.#handle.writeBuffer(req, chunk);
    if (err !== 0) {
      this.#failSoon(errnoError(err, 'write'));
      return false;
    }
    if (state[kLastWriteWasAsync] === 0) {
      spareWrite = req;
      return true;
    }
    // Queued: the request is libuv's until it completes, and keeps the bytes alive till then.
    req.socket = this;
    req.buffer = chunk;
    this.#pending++;
    return false;
  }

  /** Sends our FIN once queued writes are out (after connecting, if still connecting). */
  end(): void {
    if (this.#closed || this.#writeEnded) return;
    this.#writeEnded = true;
    // While connecting, the FIN follows the connect (#afterConnect).
    if (this.#connecting) return;
    // The peer's FIN is in and nothing is queued: close() sends our FIN as shutdown() would,
    // a syscall and a loop turn sooner (the usual close of a request/response connection).
    this.#maybeClose();
    if (!this.#closed) this.#shutdown();
  }

  pause(): void {
    this.#wantRead = false;
    if (this.#reading) {
      this.#reading = false;
      this.#handle.readStop();
    }
  }

  resume(): void {
    this.#wantRead = true;
    this.#startReading();
  }

  /** Closes now; queued bytes are dropped; `close` is reported at once (unless the events were switched away). */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reading = false;
    this.#handle.close();
    this.#events.close(this.#owner);
  }

  #connectTo(address: string, family: number): void {
    const req = new tcp.TCPConnectWrap();
    req.oncomplete = RawSocket.#afterConnect;
    req.socket = this;
    const port = this.#port;
    this.#target = family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
    const err = family === 6 ? this.#handle.connect6(req, address, port) : this.#handle.connect(req, address, port);
    if (err !== 0) this.#connectFailed(errnoError(err, 'connect', this.#target), true);
    else {
      this.#hasSocket = true;
      this.#startReading();
    }
  }

  /** Tries the name's next address on a fresh handle, if there is one; else reports the error. */
  #connectFailed(err: NodeJS.ErrnoException, inCall: boolean): void {
    const next = this.#nextAddresses?.shift();
    if (next === undefined) {
      if (inCall) this.#failSoon(err);
      else this.#fail(err);
      return;
    }
    const old = this.#handle;
    this.#hasSocket = this.#reading = false;
    this.#handle = new tcp.TCP(tcp.constants.SOCKET);
    RawSocket.#adopt(this.#handle, this);
    old.close();
    this.#connectTo(next.address, next.family);
  }

  #startReading(): void {
    if (this.#reading || !this.#wantRead || !this.#hasSocket || this.#readEnded || this.#closed) return;
    const err = this.#handle.readStart();
    if (err === 0) this.#reading = true;
    else this.#failSoon(errnoError(err, 'read'));
  }

  /**
   * Sends our FIN once libuv's queued writes are out. Its completion is not asked for: all it
   * would tell is when to close, and close() itself sends the FIN if it is still to go (the
   * peer's FIN is in, so no unread byte turns it into a reset). A write that fails reports
   * itself; a reset shows as a read error. Saves a call into JS per connection.
   */
  #shutdown(): void {
    if (this.#shutdownSent) return;
    this.#shutdownSent = true;
    const req = new stream.ShutdownWrap();
    req.handle = this.#handle;
    const err = this.#handle.shutdown(req);
    if (err !== 0) this.#failSoon(errnoError(err, 'shutdown'));
  }

  /** Both directions done (peer's FIN in, ours asked for, nothing queued): close, as net.Socket does with allowHalfOpen. */
  #maybeClose(): void {
    if (this.#readEnded && this.#writeEnded && !this.#connecting && this.#pending === 0) this.destroy();
  }

  #fail(err: NodeJS.ErrnoException): void {
    if (this.#closed) return;
    this.#events.error(this.#owner, err);
    this.destroy();
  }

  /** Errors found inside a call are reported after it returns, as net.Socket does. */
  #failSoon(err: NodeJS.ErrnoException): void {
    process.nextTick(RawSocket.#failLater, this, err);
  }

  static #failLater(socket: RawSocket, err: NodeJS.ErrnoException): void {
    socket.#fail(err);
  }

  static #onRead(this: TcpHandle): Buffer | undefined {
    const s = this.socket!;
    const n = state[kReadBytesOrError]!;
    if (n > 0) {
      if (s.#closed) return undefined;
      const own = s.#ownBuffer;
      let chunk: Buffer;
      if (own !== undefined) chunk = own.subarray(0, n);
      else {
        chunk = Buffer.allocUnsafe(n);
        SHARED_READ_BUFFER.copy(chunk, 0, 0, n);
      }
      s.#events.data(s.#owner, chunk);
      if (!s.#mayReuse || s.#closed) return undefined;
      if (n >= BULK_READ) {
        s.#smallReads = 0;
        return own === undefined ? (s.#ownBuffer = spareBuffers.pop() ?? Buffer.allocUnsafeSlow(OWN_BUFFER_SIZE)) : undefined;
      }
      // A paused socket may have this chunk in a queued write: it keeps the buffer until a later small read.
      if (own === undefined || ++s.#smallReads < SMALL_READS_TO_RELEASE || !s.#wantRead) return undefined;
      s.#ownBuffer = undefined;
      s.#smallReads = 0;
      if (spareBuffers.length < SPARE_BUFFERS_MAX) spareBuffers.push(own);
      return SHARED_READ_BUFFER;
    }
    if (n === 0) return;
    if (n !== UV_EOF) {
      s.#fail(errnoError(n, 'read'));
      return;
    }
    s.#readEnded = true;
    s.pause();
    s.#events.end(s.#owner);
    s.#maybeClose();
  }

  static #afterWrite(this: WriteReq, status: number): void {
    const s = this.socket!;
    this.socket = this.buffer = undefined;
    s.#pending--;
    if (s.#closed) return;
    if (status < 0) s.#fail(errnoError(status, 'write'));
    else if (s.#pending === 0) {
      s.#events.drain(s.#owner);
      s.#maybeClose();
    }
  }

  static #afterConnect(this: ConnectReq, status: number): void {
    const s = this.socket;
    if (s.#closed) return;
    if (status < 0) {
      s.#connectFailed(errnoError(status, 'connect', s.#target), false);
      return;
    }
    s.#nextAddresses = undefined;
    s.#connecting = false;
    s.#handle.setNoDelay(true);
    s.#events.connect(s.#owner);
    if (s.#closed) return;
    if (s.#writeEnded) s.#shutdown();
    s.#startReading();
  }
}

/**
 * Takes a listening net.Server's new connections as raw handles: `onHandle(handle)` for each,
 * `onError(err)` when accepting fails (out of descriptors…). Works for a cluster worker's
 * shared handle too. Call once the server is listening.
 */
export function takeConnections(
  server: import('node:net').Server,
  onHandle: (handle: unknown) => void,
  onError: (err: NodeJS.ErrnoException) => void,
): void {
  const listening = (server as unknown as { _handle: { onconnection: (status: number, handle?: unknown) => void } | null })._handle;
  if (listening === null) throw new Error('the server is not listening');
  listening.onconnection = (status, handle) => {
    if (status < 0 || handle === undefined) onError(errnoError(status, 'accept'));
    else onHandle(handle);
  };
}

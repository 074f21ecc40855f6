/**
 * Loopback test servers for data-path tests, each on a port of its own (port 0):
 *
 *   echo      writes back what it reads; ends when the client ends
 *   sink      reads and discards (counts bytes)
 *   source    sends N bytes (backpressure-aware, no allocation per write), then ends
 *   silent    accepts and reads, never writes nor ends (a hung member)
 *   delayed   echoes each chunk after a delay (a slow member)
 *   greeting  greets on connect, then echoes (a server-speaks-first protocol)
 *   refusing  a port nothing listens on (connect: ECONNREFUSED)
 *   blackhole a port whose connects hang (connect timeout): a stopped child process
 *             whose full accept queue makes the kernel drop further SYNs
 *
 * Every server records per connection what it received (unless told not to),
 * and offers bounded waits driven by its own events, never sleeps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Test } from 'tap';
import { formatEndpoint, type Endpoint } from '../../src/net/address.js';

export interface BackendOptions {
  /** Loopback address to bind: 127.0.0.1 (default) or ::1. */
  host?: string;
  /** Keep what each connection received (default true); off for bulk transfers. */
  record?: boolean;
}

export interface Backend {
  readonly host: string;
  readonly port: number;
  readonly endpoint: Endpoint;
  /** `host:port` (`[::1]:port`), as member ids are written. */
  readonly address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Bytes received over every connection. */
  readonly bytesReceived: number;
  /** Bytes sent over every connection. */
  readonly bytesSent: number;
  /** The accepted sockets, in accept order (closed ones included). */
  readonly sockets: readonly Socket[];
  /** What connection `i` (accept order) has received so far, when recording. */
  received(i: number): Buffer;
  /** Resolves once `n` connections have been accepted in all. */
  waitForAccepted(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves once connection `i` has received at least `bytes` bytes. */
  waitForBytes(i: number, bytes: number, timeoutMs?: number): Promise<Buffer>;
  /** Resolves once no connection is open. */
  waitForIdle(timeoutMs?: number): Promise<void>;
  /** Resolves once the peer has left (FIN, reset or close) every connection accepted so far. */
  waitForPeersGone(timeoutMs?: number): Promise<void>;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

type Handler = (socket: Socket, backend: BackendState) => void;

interface BackendState {
  countSent(n: number): void;
}

const DEFAULT_WAIT_MS = 5000;

/** Resolves when `ready()` holds, re-checking on each `change` of `events`; rejects after `timeoutMs`. */
function waitFor(events: EventEmitter, ready: () => boolean, what: string, timeoutMs: number): Promise<void> {
  if (ready()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onChange = () => {
      if (!ready()) return;
      clearTimeout(timer);
      events.off('change', onChange);
      resolve();
    };
    const timer = setTimeout(() => {
      events.off('change', onChange);
      reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}`));
    }, timeoutMs);
    events.on('change', onChange);
  });
}

/** A loopback server running `handler` on each connection, with the bookkeeping above. */
export async function startBackend(handler: Handler, opts: BackendOptions = {}): Promise<Backend> {
  const host = opts.host ?? '127.0.0.1';
  const record = opts.record ?? true;
  const events = new EventEmitter();
  const sockets: Socket[] = [];
  const received: Buffer[][] = [];
  const receivedBytes: number[] = [];
  let open = 0;
  let peersGone = 0;
  let bytesReceived = 0;
  let bytesSent = 0;
  const state: BackendState = {
    countSent(n) {
      bytesSent += n;
    },
  };
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    const i = sockets.length;
    sockets.push(socket);
    received.push([]);
    receivedBytes.push(0);
    open++;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      bytesReceived += chunk.length;
      receivedBytes[i]! += chunk.length;
      if (record) received[i]!.push(chunk);
      events.emit('change');
    });
    let peerGone = false;
    const onPeerGone = () => {
      if (peerGone) return;
      peerGone = true;
      peersGone++;
      events.emit('change');
    };
    socket.on('end', onPeerGone);
    socket.on('close', () => {
      open--;
      onPeerGone();
      events.emit('change');
    });
    handler(socket, state);
    events.emit('change');
  });
  server.listen({ host, port: 0 });
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('backend did not bind');
  const endpoint = { host, port: addr.port };
  return {
    host,
    port: addr.port,
    endpoint,
    address: formatEndpoint(endpoint),
    get accepted() {
      return sockets.length;
    },
    get open() {
      return open;
    },
    get bytesReceived() {
      return bytesReceived;
    },
    get bytesSent() {
      return bytesSent;
    },
    sockets,
    received(i) {
      return Buffer.concat(received[i] ?? []);
    },
    waitForAccepted(n, timeoutMs = DEFAULT_WAIT_MS) {
      return waitFor(events, () => sockets.length >= n, `${n} connections to ${formatEndpoint(endpoint)}`, timeoutMs);
    },
    async waitForBytes(i, bytes, timeoutMs = DEFAULT_WAIT_MS) {
      const what = `${bytes} bytes on connection ${i} to ${formatEndpoint(endpoint)}`;
      await waitFor(events, () => (receivedBytes[i] ?? 0) >= bytes, what, timeoutMs);
      return Buffer.concat(received[i] ?? []);
    },
    waitForIdle(timeoutMs = DEFAULT_WAIT_MS) {
      return waitFor(events, () => open === 0, `no open connections to ${formatEndpoint(endpoint)}`, timeoutMs);
    },
    waitForPeersGone(timeoutMs = DEFAULT_WAIT_MS) {
      const what = `peers to leave every connection to ${formatEndpoint(endpoint)}`;
      return waitFor(events, () => peersGone === sockets.length, what, timeoutMs);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes back everything; passes the client's FIN on once the echo is written. */
export function echoServer(opts?: BackendOptions): Promise<Backend> {
  return startBackend((socket, state) => {
    socket.on('data', (chunk: Buffer) => {
      state.countSent(chunk.length);
      if (!socket.write(chunk)) socket.pause();
    });
    socket.on('drain', () => socket.resume());
    socket.on('end', () => socket.end());
  }, opts);
}

/** Reads and discards; ends its side when the client ends. */
export function sinkServer(opts?: BackendOptions): Promise<Backend> {
  return startBackend((socket) => {
    socket.on('end', () => socket.end());
  }, { record: false, ...opts });
}

export interface SourceOptions extends BackendOptions {
  /** Bytes per write (default 64 KiB); one buffer is reused for every write. */
  chunkSize?: number;
  /** Keep the connection open after sending (default: end it). */
  keepOpen?: boolean;
}

/** Sends `total` bytes on each connection as fast as the peer takes them, honouring backpressure. */
export function sourceServer(total: number, opts: SourceOptions = {}): Promise<Backend> {
  const chunk = Buffer.alloc(opts.chunkSize ?? 64 * 1024, 'x');
  return startBackend((socket, state) => {
    let left = total;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        state.countSent(n);
        // Written chunks are never changed, so one buffer serves every write.
        if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!opts.keepOpen) socket.end();
    };
    pump();
  }, { record: false, ...opts });
}

/** Accepts and reads, never writes, never ends its side (not even after the client's FIN): a hung member. */
export function silentServer(opts?: BackendOptions): Promise<Backend> {
  return startBackend(() => {}, opts);
}

/** Like echo, but each reply goes out `delayMs` after its bytes arrived (a slow member). */
export function delayedEchoServer(delayMs: number, opts?: BackendOptions): Promise<Backend> {
  return startBackend((socket, state) => {
    const timers = new Set<NodeJS.Timeout>();
    socket.on('data', (chunk: Buffer) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        state.countSent(chunk.length);
        socket.write(chunk);
      }, delayMs);
      timers.add(timer);
    });
    socket.on('end', () => {
      const timer = setTimeout(() => socket.end(), delayMs);
      timers.add(timer);
    });
    socket.on('close', () => {
      for (const t of timers) clearTimeout(t);
    });
  }, opts);
}

/** Sends `greeting` as soon as a client connects (a server-speaks-first protocol), then echoes. */
export function greetingServer(greeting: string | Buffer, opts?: BackendOptions): Promise<Backend> {
  return startBackend((socket, state) => {
    state.countSent(Buffer.byteLength(greeting));
    socket.write(greeting);
    socket.on('data', (chunk: Buffer) => {
      state.countSent(chunk.length);
      socket.write(chunk);
    });
    socket.on('end', () => socket.end());
  }, opts);
}

/**
 * A loopback port nothing listens on: connects to it are refused. The port is held until the
 * test ends (it is the local end of a connection kept open), so that a listener on port 0 (the
 * proxy under test, say) cannot be given it: a proxy that had its own port as a member would
 * relay to itself in a loop.
 */
export async function refusingPort(t: Test, host = '127.0.0.1'): Promise<Endpoint> {
  const server = createServer();
  server.listen({ host, port: 0 });
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const holder = connect((server.address() as AddressInfo).port, host);
  holder.on('error', () => {});
  await once(holder, 'connect');
  const [peer] = await accepted;
  peer.on('error', () => {});
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  t.teardown(() => {
    holder.destroy();
    peer.destroy();
    return closed;
  });
  return { host, port: holder.localPort! };
}

export interface Blackhole {
  readonly endpoint: Endpoint;
  readonly address: string;
  /** Kills the stopped child and drops the connections that fill its queue. */
  close(): Promise<void>;
}

/**
 * A loopback port whose connects hang until the connector times out. A child
 * process listens with a backlog of 1 and stops itself (SIGSTOP) so it never
 * accepts; once its accept queue is full, Linux drops further SYNs.
 */
export async function blackhole(timeoutMs = 5000): Promise<Blackhole> {
  const script =
    "const s=require('net').createServer();" +
    "s.listen({host:'127.0.0.1',port:0,backlog:1},()=>{" +
    "process.stdout.write(s.address().port+'\\n',()=>process.kill(process.pid,'SIGSTOP'));});";
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fillers: Socket[] = [];
  const close = async () => {
    for (const s of fillers) s.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('blackhole child did not report its port')), timeoutMs);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (!out.includes('\n')) return;
        clearTimeout(timer);
        resolve(Number(out.trim()));
      });
      child.once('exit', () => reject(new Error('blackhole child exited early')));
    });
    // Fill the accept queue until a connect hangs: from then on every SYN is dropped.
    for (let i = 0; i < 32; i++) {
      const s = connect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      fillers.push(s);
      const connected = await Promise.race([
        once(s, 'connect').then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 300)),
      ]);
      if (!connected) {
        const endpoint = { host: '127.0.0.1', port };
        return { endpoint, address: formatEndpoint(endpoint), close };
      }
    }
    throw new Error('blackhole: connects kept succeeding; the accept queue never filled');
  } catch (err) {
    await close();
    throw err;
  }
}

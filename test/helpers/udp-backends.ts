/**
 * UDP members and clients for the UDP listener tests: in-process dgram
 * backends (echo, tagged echo, silent), killable child-process backends, a DNS
 * query codec, a paced query stream with loss counting, and small builders for
 * a UDP ServiceConfig and a Pool. Everything binds loopback on port 0.
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { Test } from 'tap';
import type { ServiceConfig } from '../../src/config/types.js';
import { Member } from '../../src/pool/member.js';
import { Pool, type PoolOptions } from '../../src/pool/pool.js';
import type { ListenerEvents } from '../../src/proxy/types.js';
import { UdpListener } from '../../src/proxy/udp.js';
import { memberConfig, serviceConfig } from './service-config.js';

/**
 * A loopback port nothing listens on: datagrams to it draw ICMP port unreachable. The port is held
 * until the test ends, so that no socket bound meanwhile (the listener under test, say) is given
 * it, by a socket connected to itself: the kernel hands such a socket only datagrams from its own
 * address, and answers all others as it would for a closed port.
 */
export async function unreachableUdpPort(t: Test, host = '127.0.0.1'): Promise<{ host: string; port: number }> {
  const holder = createSocket(socketType(host));
  const port = await bound(holder, host);
  holder.connect(port, host);
  await once(holder, 'connect');
  t.teardown(() => holder.close());
  return { host, port };
}

/** echo: the datagram back as is; tag: `NAME|` then the datagram; silent: never answers. */
export type BackendMode = 'echo' | 'tag' | 'silent';

export interface UdpBackend {
  host: string;
  port: number;
  name: string;
  /** Datagrams received so far. */
  received: number;
  close(): Promise<void>;
}

function socketType(host: string): 'udp4' | 'udp6' {
  return host.includes(':') ? 'udp6' : 'udp4';
}

/** Binds `socket` to an OS-chosen port on `host`; returns the port. */
async function bound(socket: Socket, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket.address().port;
}

export interface BackendOptions {
  name?: string;
  mode?: BackendMode;
  /** Loopback address to bind: 127.0.0.1 (default) or ::1. */
  host?: string;
}

/** An in-process backend on loopback. */
export async function startUdpBackend(options: BackendOptions = {}): Promise<UdpBackend> {
  const host = options.host ?? '127.0.0.1';
  const name = options.name ?? 'backend';
  const mode = options.mode ?? 'echo';
  const socket = createSocket(socketType(host));
  const tag = Buffer.from(`${name}|`);
  const backend: UdpBackend = {
    host,
    name,
    port: 0,
    received: 0,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (msg, rinfo) => {
    backend.received++;
    if (mode === 'echo') socket.send(msg, rinfo.port, rinfo.address);
    else if (mode === 'tag') socket.send([tag, msg], rinfo.port, rinfo.address);
  });
  backend.port = await bound(socket, host);
  return backend;
}

export interface ChildUdpBackend {
  host: string;
  port: number;
  name: string;
  pid: number;
  /** Kills the process (SIGKILL by default) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const CHILD_SCRIPT = `
const dgram = require('node:dgram');
const [host, mode, name] = process.argv.slice(1);
const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
const tag = Buffer.from(name + '|');
socket.on('message', (msg, r) => {
  if (mode === 'echo') socket.send(msg, r.port, r.address);
  else if (mode === 'tag') socket.send([tag, msg], r.port, r.address);
});
socket.bind(0, host, () => process.stdout.write(socket.address().port + '\\n'));
process.stdin.on('end', () => process.exit(0)).resume();
`;

/** A backend in a child process, for tests that kill a member. Its stdin is a pipe, so it also exits with the test. */
export async function startChildUdpBackend(options: BackendOptions & { name: string }): Promise<ChildUdpBackend> {
  const host = options.host ?? '127.0.0.1';
  const child = spawn(process.execPath, ['-e', CHILD_SCRIPT, host, options.mode ?? 'tag', options.name], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`backend ${options.name} did not start`));
    }, 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(Number(text.trim()));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`backend ${options.name} exited (${signal ?? code})`));
    });
  });
  return {
    host,
    port,
    name: options.name,
    pid: child.pid!,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}

/** A client socket bound on loopback, with its replies queued for `next()`. */
export interface UdpClient {
  socket: Socket;
  port: number;
  send(data: Buffer | string): void;
  /** The next reply, or a rejection after `timeoutMs`. */
  next(timeoutMs?: number): Promise<Buffer>;
  close(): Promise<void>;
}

export async function udpClient(target: { host: string; port: number }, bindHost?: string): Promise<UdpClient> {
  const host = bindHost ?? (target.host.includes(':') ? '::1' : '127.0.0.1');
  const socket = createSocket(socketType(host));
  const queue: Buffer[] = [];
  const waiters: ((b: Buffer) => void)[] = [];
  socket.on('message', (msg) => {
    const w = waiters.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  const port = await bound(socket, host);
  return {
    socket,
    port,
    send: (data) => socket.send(typeof data === 'string' ? Buffer.from(data) : data, target.port, target.host),
    next: (timeoutMs = 2000) => {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(done), 1);
          reject(new Error(`no reply within ${timeoutMs}ms`));
        }, timeoutMs);
        const done = (b: Buffer) => {
          clearTimeout(timer);
          resolve(b);
        };
        waiters.push(done);
      });
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

// ---------------------------------------------------------------- DNS

/** A recursion-desired query for `name`, type A, class IN. */
export function dnsQuery(id: number, name: string): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** The id, rcode and (for one A answer at the end) the address of a reply. */
export function dnsReply(msg: Buffer): { id: number; rcode: number; answers: number; address: string | undefined } {
  const answers = msg.readUInt16BE(6);
  return {
    id: msg.readUInt16BE(0),
    rcode: msg[3]! & 0x0f,
    answers,
    address: answers > 0 ? [...msg.subarray(msg.length - 4)].join('.') : undefined,
  };
}

export interface StreamResult {
  /** Answered within the timeout. */
  answered: number;
  /** Not answered within the timeout (`late` of them answered after it). */
  lost: number;
  late: number;
  /** Answers counted by the address they carried (which member answered). */
  byAddress: Map<string, number>;
}

/**
 * A steady stream of DNS queries for `name`: `total` queries spread evenly over
 * `durationMs`, round robin over `sockets` client sockets. Each query gets one
 * chance (no retries): a reply later than `timeoutMs`, or none, is a loss.
 */
export async function dnsQueryStream(options: {
  target: { host: string; port: number };
  name: string;
  total: number;
  durationMs: number;
  sockets: number;
  timeoutMs: number;
  /** Runs right after query number `after` is sent (to kill a member half-way, say). */
  midway?: { after: number; run: () => void };
}): Promise<StreamResult> {
  const { target, total, durationMs, timeoutMs } = options;
  const clients: Socket[] = [];
  const sentAt = new Float64Array(total).fill(-1);
  const answeredAt = new Uint8Array(total);
  const byAddress = new Map<string, number>();
  let answered = 0;
  let late = 0;
  for (let i = 0; i < options.sockets; i++) {
    const socket = createSocket(socketType(target.host));
    socket.on('message', (msg) => {
      if (msg.length < 12) return;
      const r = dnsReply(msg);
      // The query number is the id (unique across sockets while total <= 65536).
      const q = r.id;
      if (q >= total || sentAt[q]! < 0 || answeredAt[q]) return;
      answeredAt[q] = 1;
      if (performance.now() - sentAt[q]! > timeoutMs) {
        late++;
        return;
      }
      answered++;
      const key = r.address ?? `rcode ${r.rcode}`;
      byAddress.set(key, (byAddress.get(key) ?? 0) + 1);
    });
    await bound(socket, target.host.includes(':') ? '::1' : '127.0.0.1');
    clients.push(socket);
  }
  const queries = Array.from({ length: total }, (_, q) => dnsQuery(q, options.name));
  await paced(total, durationMs, (q) => {
    sentAt[q] = performance.now();
    clients[q % clients.length]!.send(queries[q]!, target.port, target.host);
    if (q === options.midway?.after) options.midway.run();
  });
  await new Promise((r) => setTimeout(r, timeoutMs + 50));
  await Promise.all(clients.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return { answered, lost: total - answered, late, byAddress };
}

/**
 * Calls `send(i)` for i = 0 … total-1, spread evenly over `durationMs` in 5 ms ticks. A late tick (a loaded
 * machine) sends no more than one tick's share, so the stream slows down rather than bursting.
 */
export function paced(total: number, durationMs: number, send: (i: number) => void): Promise<void> {
  const tickMs = 5;
  const perTick = Math.max(1, Math.ceil((total * tickMs) / durationMs));
  let next = 0;
  return new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (const end = Math.min(total, next + perTick); next < end; next++) send(next);
      if (next >= total) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
}

// ---------------------------------------------------------------- config

/** A resolved UDP service config for tests (service-config.ts with UDP settings); members go to the Pool directly. */
export function udpServiceConfig(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return serviceConfig({ name: 'udp-test', protocol: 'udp', balance: 'roundrobin', maxSessions: 0, ...overrides });
}

export function udpMember(backend: { host: string; port: number }): Member {
  return new Member(memberConfig(backend), { checked: false, slowStart: 0 });
}

export function udpPool(members: Member[], options: Partial<PoolOptions> = {}): Pool {
  const defaults: PoolOptions = {
    balance: 'roundrobin',
    hashKey: 'sourceIp',
    failback: 'auto',
    allBackups: false,
    panic: false,
    phase: 0,
  };
  return new Pool({ ...defaults, ...options }, members);
}

// ---------------------------------------------------------------- listener

/** A listening UdpListener, closed in the test's teardown. */
export async function startUdpListener(t: Test, config: ServiceConfig, pool: Pool): Promise<UdpListener> {
  const listener = new UdpListener(config, pool);
  await listener.listen();
  t.teardown(async () => {
    listener.closeAll('shutdown');
    await listener.stopAccepting();
  });
  return listener;
}

export function listenerTarget(listener: UdpListener): { host: string; port: number } {
  const a = listener.address();
  return { host: a.address, port: a.port };
}

/** The next `name` event whose payload `match`es, or a rejection after `ms`. */
export function nextEvent<K extends keyof ListenerEvents>(
  listener: UdpListener,
  name: K,
  match: (v: ListenerEvents[K][0]) => boolean = () => true,
  ms = 5000,
): Promise<ListenerEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const on = (v: ListenerEvents[K][0]): void => {
      if (!match(v)) return;
      clearTimeout(timer);
      listener.off(name, on as never);
      resolve(v);
    };
    const timer = setTimeout(() => {
      listener.off(name, on as never);
      reject(new Error(`no ${name} event within ${ms}ms`));
    }, ms);
    listener.on(name, on as never);
  });
}

/** An in-process backend closed in the test's teardown. */
export async function backendFor(t: Test, options: BackendOptions = {}): Promise<UdpBackend> {
  const b = await startUdpBackend(options);
  t.teardown(() => b.close());
  return b;
}

/** A client of the listener, closed in the test's teardown. */
export async function clientFor(t: Test, listener: UdpListener, bindHost?: string): Promise<UdpClient> {
  const c = await udpClient(listenerTarget(listener), bindHost);
  t.teardown(() => c.close());
  return c;
}

/** Resolves once `cond` holds, polling every 5 ms; rejects after `ms`. */
export async function waitUntil(cond: () => boolean, ms = 3000): Promise<void> {
  const until = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > until) throw new Error(`condition not met within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

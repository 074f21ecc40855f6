/**
 * A TcpListener on loopback for tests: records every event it publishes,
 * offers bounded waits on them, and cleans up (connections, listener, pool,
 * client sockets) at the test's teardown.
 */
import { EventEmitter } from 'node:events';
import { connect, type OnReadOpts, type Socket } from 'node:net';
import type { Test } from 'tap';
import type { MemberConfig, ServiceConfig } from '../../src/config/types.js';
import type { Endpoint } from '../../src/net/address.js';
import type { Member } from '../../src/pool/member.js';
import type { Pool } from '../../src/pool/pool.js';
import { TcpListener, type TcpListenerOptions } from '../../src/proxy/tcp.js';
import type { ConnectResult, SessionRecord } from '../../src/proxy/types.js';
import { memberConfig, poolFor, serviceConfig } from './service-config.js';

export interface Proxy {
  listener: TcpListener;
  pool: Pool;
  members: Member[];
  config: ServiceConfig;
  endpoint: Endpoint;
  records: SessionRecord[];
  results: ConnectResult[];
  reroutes: { from: Member; to: Member }[];
  /** Resolves once `n` session-end records have been published; returns them all. */
  waitForRecords(n: number, timeoutMs?: number): Promise<SessionRecord[]>;
  /** Resolves once `n` connect-result events have been published. */
  waitForResults(n: number, timeoutMs?: number): Promise<ConnectResult[]>;
  /** A client connected to the proxy (destroyed at teardown); `onread` as net.connect takes it (reads into one buffer). */
  connect(opts?: { host?: string; localAddress?: string; onread?: OnReadOpts }): Promise<Socket>;
}

const WAIT_MS = 5000;

export async function startProxy(
  t: Test,
  members: (Endpoint | MemberConfig)[],
  overrides: Partial<ServiceConfig> = {},
  opts: TcpListenerOptions = {},
): Promise<Proxy> {
  const config = serviceConfig({
    ...overrides,
    members: members.map((m) => ('id' in m ? m : memberConfig(m))),
  });
  const { pool, members: poolMembers } = poolFor(config);
  const listener = new TcpListener(config, pool, opts);
  const events = new EventEmitter();
  const records: SessionRecord[] = [];
  const results: ConnectResult[] = [];
  const reroutes: { from: Member; to: Member }[] = [];
  listener.on('session-end', (r) => {
    records.push(r);
    events.emit('change');
  });
  listener.on('connect-result', (r) => {
    results.push(r);
    events.emit('change');
  });
  listener.on('reroute', (r) => {
    reroutes.push(r);
    events.emit('change');
  });
  await listener.listen();
  const clients: Socket[] = [];
  t.teardown(async () => {
    for (const c of clients) c.destroy();
    listener.closeAll('shutdown');
    await listener.stopAccepting();
    pool.close();
  });
  const wait = <T>(ready: () => boolean, value: () => T, what: string, timeoutMs: number): Promise<T> => {
    if (ready()) return Promise.resolve(value());
    return new Promise((resolve, reject) => {
      const onChange = () => {
        if (!ready()) return;
        clearTimeout(timer);
        events.off('change', onChange);
        resolve(value());
      };
      const timer = setTimeout(() => {
        events.off('change', onChange);
        reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}; records: ${JSON.stringify(records)}`));
      }, timeoutMs);
      events.on('change', onChange);
    });
  };
  const address = listener.address();
  const endpoint = { host: config.listen.host, port: address.port };
  return {
    listener,
    pool,
    members: poolMembers,
    config,
    endpoint,
    records,
    results,
    reroutes,
    waitForRecords: (n, timeoutMs = WAIT_MS) => wait(() => records.length >= n, () => records, `${n} session records`, timeoutMs),
    waitForResults: (n, timeoutMs = WAIT_MS) => wait(() => results.length >= n, () => results, `${n} connect results`, timeoutMs),
    async connect(o = {}) {
      const host = o.host ?? (endpoint.host === '::' ? '::1' : endpoint.host === '0.0.0.0' ? '127.0.0.1' : endpoint.host);
      const socket = connect({
        host,
        port: endpoint.port,
        allowHalfOpen: true,
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
        ...(o.onread ? { onread: o.onread } : {}),
      });
      clients.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      socket.on('error', () => {});
      return socket;
    },
  };
}

/** Everything a socket receives until its peer ends (or it closes); rejects after `timeoutMs`. */
export function readAll(socket: Socket, timeoutMs = WAIT_MS): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error(`no end from the peer within ${timeoutMs}ms`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', done);
    socket.once('close', done);
  });
}

/** Reads until `bytes` bytes have arrived; rejects after `timeoutMs`. */
export function readBytes(socket: Socket, bytes: number, timeoutMs = WAIT_MS): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => {
      socket.off('data', onData);
      reject(new Error(`only ${got} of ${bytes} bytes within ${timeoutMs}ms`));
    }, timeoutMs);
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got < bytes) return;
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(Buffer.concat(chunks));
    };
    socket.on('data', onData);
  });
}

/** Resolves when the proxy has closed its side (FIN or reset seen, or the socket closed); rejects after `timeoutMs`. */
export function closed(socket: Socket, timeoutMs = WAIT_MS): Promise<void> {
  if (socket.closed || socket.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs}ms`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    socket.once('end', done);
    socket.once('close', done);
    socket.resume();
  });
}

/**
 * A TCP service's listener: accepts, admits, and hands each connection to a
 * TcpSession (tcp-session.ts) that relays it to a member of the pool.
 *
 *   const listener = new TcpListener(service, pool);
 *   listener.on('session-end', (record) => accessLog.info(record));
 *   await listener.listen();
 *
 * Admission, in order, before a single client byte is read (pauseOnConnect):
 * the allow/deny ACL ('refused-acl'), then maxConnections ('refused-max-connections');
 * a refused socket is destroyed at once and reported as a session-end record.
 * The listener never logs or counts metrics itself: it publishes events
 * (session-end, connect-result, reroute, accept-error) and keeps the members'
 * live counters (active, bytes, attachments) through its sessions.
 */
import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { ServiceConfig } from '../config/types.js';
import { SwitchyardError } from '../errors.js';
import { formatEndpoint, unmapIPv4 } from '../net/address.js';
import { RawSocket, takeConnections, type PeerAddress } from '../net/raw-socket.js';
import { tcpListenOptions } from '../net/reuse-port.js';
import type { Member } from '../pool/member.js';
import type { Pool } from '../pool/pool.js';
import { Acl } from './acl.js';
import { TcpSession, type SessionOwner, type SessionOptions } from './tcp-session.js';
import type { ConnectResult, EndReason, Listener, ListenerEvents, SessionRecord } from './types.js';

export interface TcpListenerOptions {
  /** How long a client may take to send its PROXY header (acceptProxyProtocol); default 3 s. */
  proxyHeaderTimeout?: number;
  /** Bind a listening socket of this process's own with SO_REUSEPORT (net/reuse-port.ts), not a cluster worker's share of the primary's. */
  reusePort?: boolean;
}

const DEFAULT_PROXY_HEADER_TIMEOUT = 3000;

/** listen()'s backlog with no connection limit: the kernel caps it at net.core.somaxconn anyway. */
const UNLIMITED_BACKLOG = 65_535;

/**
 * The listen queue is as long as the listener's maxConnections (as HAProxy's backlog defaults to the
 * frontend's maxconn), not Node's 511: a burst of up to the limit waits in the kernel instead of having
 * its SYNs dropped and retried a second later. Set at bind: a reload that changes the limit keeps it.
 * Under workers it is the worker's share of the limit, per socket with reusePort; workers sharing one
 * socket (Node.js < 22.12) give it one worker's share.
 */
function backlogOf(config: ServiceConfig): number {
  return config.maxConnections > 0 ? config.maxConnections : UNLIMITED_BACKLOG;
}

export class TcpListener extends EventEmitter<ListenerEvents> implements Listener {
  readonly pool: Pool;
  #config: ServiceConfig;
  #acl: Acl;
  readonly #server: Server;
  readonly #sessions = new Set<TcpSession>();
  readonly #sessionOptions: SessionOptions;
  readonly #owner: SessionOwner;
  readonly #reusePort: boolean;

  constructor(config: ServiceConfig, pool: Pool, opts: TcpListenerOptions = {}) {
    super();
    this.pool = pool;
    this.#config = config;
    this.#acl = new Acl(config.allow, config.deny);
    this.#sessionOptions = { proxyHeaderTimeout: opts.proxyHeaderTimeout ?? DEFAULT_PROXY_HEADER_TIMEOUT };
    this.#reusePort = opts.reusePort ?? false;
    this.#owner = {
      pool,
      connectResult: (result: ConnectResult) => this.emit('connect-result', result),
      rerouted: (from: Member, to: Member) => this.emit('reroute', { from, to }),
      ended: (session: TcpSession, record: SessionRecord) => {
        this.#sessions.delete(session);
        this.emit('session-end', record);
      },
    };
    // The server only listens (also as a cluster worker's share of the port): its connections
    // are taken as raw handles (net/raw-socket.ts), and nothing is read before admission.
    this.#server = createServer();
  }

  get config(): ServiceConfig {
    return this.#config;
  }

  get activeCount(): number {
    return this.#sessions.size;
  }

  /** Applies a reloaded service config to new connections (timeouts, limits, ACLs); open ones keep theirs. */
  updateConfig(config: ServiceConfig): void {
    this.#acl = new Acl(config.allow, config.deny);
    this.#config = config;
  }

  listen(): Promise<void> {
    const { host, port } = this.#config.listen;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        this.#server.off('listening', onListening);
        reject(new SwitchyardError('SWY_ERR_LISTEN', `cannot listen on ${formatEndpoint({ host, port })}: ${err.message}`, { cause: err }));
      };
      const onListening = () => {
        this.#server.off('error', onError);
        // Accept failures (EMFILE, ENFILE…) are reported; the server goes on accepting.
        takeConnections(this.#server, this.#onConnection, this.#onAcceptError);
        resolve();
      };
      this.#server.once('error', onError);
      this.#server.once('listening', onListening);
      this.#server.listen({ ...tcpListenOptions(host, port, this.#reusePort), backlog: backlogOf(this.#config) });
    });
  }

  address(): AddressInfo {
    const a = this.#server.address();
    if (a === null || typeof a === 'string') throw new Error(`service ${this.#config.name} is not listening`);
    return a;
  }

  /** Closes the listening socket; open connections go on until they end or closeAll(). */
  stopAccepting(): Promise<void> {
    if (!this.#server.listening) return Promise.resolve();
    // server.close()'s own callback waits for every connection to end; the listening handle is
    // released at once, and its close completes within the next turn of the event loop.
    this.#server.close();
    return new Promise((resolve) => setImmediate(resolve));
  }

  closeAll(reason: EndReason): void {
    for (const s of [...this.#sessions]) s.close(reason);
  }

  #onAcceptError = (err: Error): void => {
    this.emit('accept-error', err);
  };

  #onConnection = (handle: unknown): void => {
    const peer = RawSocket.peerOf(handle);
    if (peer === undefined) {
      // Gone before we saw it (reset while in the accept queue): nothing to serve or report.
      RawSocket.refuse(handle);
      return;
    }
    const config = this.#config;
    if (!this.#acl.allows(peer.address)) {
      this.#refuse(handle, config, peer, 'refused-acl');
      return;
    }
    if (config.maxConnections > 0 && this.#sessions.size >= config.maxConnections) {
      this.#refuse(handle, config, peer, 'refused-max-connections');
      return;
    }
    const session = new TcpSession(this.#owner, config, handle, peer);
    this.#sessions.add(session);
    session.start(this.#sessionOptions);
  };

  #refuse(handle: unknown, config: ServiceConfig, peer: PeerAddress, end: EndReason): void {
    const client = formatEndpoint({ host: unmapIPv4(peer.address), port: peer.port });
    RawSocket.refuse(handle);
    this.emit('session-end', {
      service: config.name,
      protocol: 'tcp',
      client,
      member: undefined,
      bytesIn: 0,
      bytesOut: 0,
      durationMs: 0,
      end,
      retries: 0,
    });
  }
}

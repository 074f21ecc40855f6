/**
 * A UDP service's listener: one socket taking every client's datagrams, and a
 * table of sessions (proxy/udp-session.ts) by client address and port
 * (proxy/udp-session-table.ts).
 *
 * Admission happens once per session (allow/deny, maxSessions, pick); after
 * that a datagram costs one Map lookup by port (no key string) and one send. Idle sessions and
 * members that stay silent past `replyTimeout` are found by one coarse sweep
 * timer, not a timer per datagram.
 *
 * Failover. A session whose member leaves the routing set is detached, not
 * ended: it keeps its client and picks a new member at its next datagram
 * (emitting `reroute`); one that waits on replies moves at once and resends
 * what went unanswered, as on ICMP below (its socket closes, so the reply
 * would be lost, and its client may send nothing more). That happens when
 *  - the member goes down or is disabled (pool `state`), whatever `onMemberDown`
 *    says: UDP has no connection to keep;
 *  - the service closes the session as an attachment of its member
 *    (`close(reason)`: onMemberDown close, drain timeout, failback close);
 *    only `close('shutdown')` ends it.
 * A draining member keeps its sessions until the service closes them.
 * When a member answers a datagram with ICMP unreachable (ECONNREFUSED on the
 * session's connected socket), the session moves at once and resends its
 * unanswered datagrams to the new member (UdpSession.unanswered), and the
 * member's other sessions that wait on replies do the same, so a killed
 * member loses almost no queries.
 *
 * Shutdown. Replies leave through the listening socket, so it stays open while
 * sessions last: stopAccepting() stops taking new clients at once (and resolves
 * then, as the TCP listener does), and the socket closes when the last session
 * ends (at once if none) or at closeAll(), which ends them all.
 *
 * Like the TCP listener it never logs or counts: it emits `session-end`,
 * `connect-result`, `reroute` and `drop`, and keeps the members' live counters.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ServiceConfig } from '../config/types.js';
import { SwitchyardError } from '../errors.js';
import { formatEndpoint, unmapIPv4 } from '../net/address.js';
import { RawUdp, type DatagramEvents, type Sender } from '../net/raw-udp.js';
import { udpSocketOptions } from '../net/reuse-port.js';
import type { Member, StateChange } from '../pool/member.js';
import type { Pool } from '../pool/pool.js';
import { Acl } from './acl.js';
import type { DropEvent, EndReason, Listener, ListenerEvents } from './types.js';
import { UdpSession, type SessionOwner } from './udp-session.js';
import { UdpSessionTable } from './udp-session-table.js';

/** Asked of the kernel for the shared listening socket (capped by net.core.rmem_max / wmem_max). */
const LISTEN_BUFFER_BYTES = 4 * 1024 * 1024;
/** ICMP errors a connected UDP socket reports: the member (or its host) is not there. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN']);

/**
 * The sessions' view of their listener. What they read on every datagram are plain fields the
 * listener keeps current: read through a getter, each cost a generic property load that V8 does
 * not inline (perf: 0.6 µs of a 24 µs query in V8's LoadIC under dnsperf).
 */
type Owner = { -readonly [K in keyof SessionOwner]: SessionOwner[K] };

export class UdpListener extends EventEmitter<ListenerEvents> implements Listener {
  #config: ServiceConfig;
  readonly #pool: Pool;
  #acl: Acl;
  #socket: Socket | undefined;
  readonly #sessions = new UdpSessionTable();
  #accepting = true;
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Holds the listening socket's datagrams and sends, past dgram (net/raw-udp.ts), as `socket`. */
  readonly #owner: Owner;
  /** Bind a socket of this process's own with SO_REUSEPORT (net/reuse-port.ts), not a cluster worker's share of the primary's. */
  readonly #reusePort: boolean;

  constructor(config: ServiceConfig, pool: Pool, opts: { reusePort?: boolean } = {}) {
    super();
    this.#config = config;
    this.#pool = pool;
    this.#reusePort = opts.reusePort ?? false;
    this.#acl = new Acl(config.allow, config.deny);
    this.#owner = this.#makeOwner();
  }

  get activeCount(): number {
    return this.#sessions.size;
  }

  async listen(): Promise<void> {
    const { host, port } = this.#config.listen;
    const where = formatEndpoint(this.#config.listen);
    const refused = (err: Error) =>
      new SwitchyardError('SWY_ERR_LISTEN', `cannot listen on udp ${where}: ${err.message}`, { cause: err });
    const ip = isIP(host) ? host : await lookup(host).then((r) => r.address, (err: Error) => Promise.reject(refused(err)));
    const family = isIP(ip) === 6 ? 6 : 4;
    const socket = createSocket(
      udpSocketOptions(
        {
          type: family === 6 ? 'udp6' : 'udp4',
          // `::` stays dual-stack (IPv4 clients arrive as ::ffff:a.b.c.d) unless the host says otherwise.
          ipv6Only: false,
          recvBufferSize: LISTEN_BUFFER_BYTES,
          sendBufferSize: LISTEN_BUFFER_BYTES,
        },
        this.#reusePort,
      ),
    );
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        socket.close();
        reject(refused(err));
      };
      socket.once('error', onError);
      // `exclusive`: a cluster worker binds its own socket instead of sharing the primary's.
      socket.bind({ port, address: ip, exclusive: this.#reusePort }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    // Once its handle is taken over, dgram reports nothing we act on: receive errors come to #listeningEvents.
    socket.on('error', () => {});
    try {
      this.#owner.socket = RawUdp.adopt(socket, UdpListener.#listeningEvents, this);
    } catch (err) {
      socket.close();
      throw refused(err as Error);
    }
    this.#socket = socket;
    this.#pool.on('state', this.#onMemberState);
    this.#armSweep();
  }

  address(): AddressInfo {
    if (this.#socket === undefined) throw new Error('the listener is not listening');
    return this.#socket.address();
  }

  /** New settings from a reload: timeouts, limits and the ACL (sessions of clients now denied end). */
  updateConfig(config: ServiceConfig): void {
    this.#config = config;
    this.#owner.responsesPerSession = config.responsesPerSession;
    this.#acl = new Acl(config.allow, config.deny);
    if (this.#socket !== undefined) this.#armSweep();
    if (this.#acl.open) return;
    for (const s of this.#sessions.values()) if (!this.#acl.allows(s.clientIp)) this.#end(s, 'refused-acl');
  }

  /** New clients are refused from now on; with no session open the socket closes before this resolves. */
  stopAccepting(): Promise<void> {
    this.#accepting = false;
    return this.#sessions.size === 0 ? this.#closeSocket() : Promise.resolve();
  }

  closeAll(reason: EndReason): void {
    for (const s of this.#sessions.values()) this.#end(s, reason);
  }

  static readonly #listeningEvents: DatagramEvents<UdpListener> = {
    message: (l, msg, from) => l.#onMessage(msg, from),
    connect: () => {},
    // A failed receive on the listening socket is transient.
    error: () => {},
  };

  #onMessage(msg: Buffer, rinfo: Sender): void {
    let s = this.#sessions.get(rinfo.address, rinfo.port);
    if (s === undefined) {
      s = this.#open(rinfo, msg.length);
      if (s === undefined) return;
    } else if (s.member === undefined && !this.#reattach(s, msg.length)) {
      return;
    }
    if (!s.forward(msg)) this.#drop('too-large', msg.length);
  }

  /** Admits a new client: ACL, maxSessions, a member. */
  #open(rinfo: Sender, bytes: number): UdpSession | undefined {
    if (!this.#accepting) return undefined;
    const clientIp = unmapIPv4(rinfo.address);
    if (!this.#acl.open && !this.#acl.allows(clientIp)) return this.#drop('refused-acl', bytes);
    const max = this.#config.maxSessions;
    if (max > 0 && this.#sessions.size >= max) return this.#drop('max-sessions', bytes);
    const member = this.#pool.pick({ clientIp, clientPort: rinfo.port });
    if (member === undefined) return this.#drop('no-member', bytes);
    const s = new UdpSession(this.#owner, rinfo.address, rinfo.port, clientIp);
    s.attach(member);
    this.#sessions.add(s);
    return s;
  }

  /** A detached session's next datagram: a new member, and a `reroute`. */
  #reattach(s: UdpSession, bytes: number): boolean {
    const member = this.#pool.pick({ clientIp: s.clientIp, clientPort: s.clientPort });
    if (member === undefined) {
      this.#drop('no-member', bytes);
      return false;
    }
    this.#moveTo(s, member);
    return true;
  }

  #moveTo(s: UdpSession, member: Member): void {
    s.attach(member);
    const from = s.previous;
    if (from === undefined || from === member) return;
    s.reroutes++;
    this.emit('reroute', { from, to: member });
  }

  /** ICMP unreachable (or another socket error): report it, then move the session and resend what went unanswered. */
  #upstreamFailed(s: UdpSession, member: Member, err: NodeJS.ErrnoException, sending: boolean): void {
    const code = err.code ?? 'error';
    const unreachable = UNREACHABLE.has(code);
    if (sending && !unreachable) {
      // The datagram was refused locally (too large for the path, no buffer space); the member is not to blame.
      // The send callback does not say which datagram, so the drop carries no size.
      this.#drop(code === 'EMSGSIZE' ? 'too-large' : 'send-failed', 0);
      return;
    }
    this.emit('connect-result', {
      member,
      ok: false,
      error: unreachable ? 'unreachable' : code,
      durationMs: s.awaiting ? performance.now() - s.awaitingSince : 0,
    });
    this.#failover(s, member, s.unanswered(sending), unreachable ? 'unreachable' : err.message, true);
    if (unreachable) this.#evacuate(member);
  }

  /**
   * ICMP says nobody listens on the member's port, so its other sessions that wait on replies need not
   * each find out (their clients may send nothing more until they time out): they move now and resend
   * what went unanswered. The rest stay until their own next datagram tells them.
   */
  #evacuate(member: Member): void {
    for (const a of [...member.attachments]) {
      if (!(a instanceof UdpSession) || !this.#sessions.has(a)) continue;
      const waiting = a.waitingFor();
      if (waiting > 0) this.#failover(a, member, waiting, 'unreachable', false);
    }
  }

  /** Moves a session off a failed member and resends its latest `count` datagrams; ends it when no member is left. */
  #failover(s: UdpSession, member: Member, count: number, error: string, retried: boolean): void {
    if (!this.#resendElsewhere(s, member, count)) {
      this.#end(s, 'connect-failed', error);
      return;
    }
    if (retried) s.retries++;
  }

  /** Detaches a session from `member` and resends its latest `count` datagrams to another; false (left detached) when none is left. */
  #resendElsewhere(s: UdpSession, member: Member, count: number): boolean {
    (s.tried ??= new Set()).add(member);
    s.detach();
    const next = this.#pool.pick({ clientIp: s.clientIp, clientPort: s.clientPort, exclude: s.tried });
    if (next === undefined) return false;
    this.#moveTo(s, next);
    s.resend(count);
    return true;
  }

  /**
   * Takes a session off its member (down, disabled, drained, failback). Detaching closes its socket, so a
   * reply still to come from the member is lost, and its client may send nothing more until it times out:
   * a session that waits on replies moves now and resends what went unanswered (as on ICMP). The rest move
   * at their next datagram.
   */
  #leave(s: UdpSession, member: Member): void {
    const waiting = s.waitingFor();
    if (waiting > 0) this.#resendElsewhere(s, member, waiting);
    else s.detach();
  }

  #onMemberState = ({ member, to }: StateChange): void => {
    if (to !== 'down' && to !== 'disabled') return;
    for (const a of [...member.attachments]) {
      if (a instanceof UdpSession && this.#sessions.has(a)) this.#leave(a, member);
    }
  };

  #end(s: UdpSession, end: EndReason, error?: string): void {
    if (!this.#sessions.delete(s)) return;
    s.detach();
    this.emit('session-end', {
      service: this.#config.name,
      protocol: 'udp',
      client: s.client,
      member: (s.member ?? s.previous)?.id,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      datagramsIn: s.datagramsIn,
      datagramsOut: s.datagramsOut,
      durationMs: Math.round(performance.now() - s.startedAt),
      end,
      retries: s.retries,
      reroutes: s.reroutes,
      ...(error === undefined ? {} : { error }),
    });
    if (!this.#accepting && this.#sessions.size === 0) void this.#closeSocket();
  }

  #drop(reason: DropEvent['reason'], bytes: number): undefined {
    this.emit('drop', { reason, bytes });
    return undefined;
  }

  /** One timer for every session: ends idle ones, reports members silent past replyTimeout. */
  #armSweep(): void {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    const { idleTimeout, replyTimeout } = this.#config;
    const shortest = Math.min(idleTimeout || Infinity, replyTimeout || Infinity);
    if (shortest === Infinity) return;
    // A quarter of the shortest timeout: ends come at most 25% late.
    const period = Math.max(10, Math.min(1000, Math.floor(shortest / 4)));
    this.#sweepTimer = setInterval(this.#sweep, period);
    this.#sweepTimer.unref();
  }

  #sweep = (): void => {
    const now = performance.now();
    const { idleTimeout, replyTimeout } = this.#config;
    for (const s of this.#sessions.values()) {
      if (s.touched) {
        s.touched = false;
        s.idleSince = now;
      } else if (idleTimeout > 0 && now - s.idleSince >= idleTimeout) {
        this.#end(s, 'idle-timeout');
        continue;
      }
      if (replyTimeout > 0 && s.awaiting && s.member !== undefined && now - s.awaitingSince >= replyTimeout) {
        s.awaiting = false;
        s.silent = true;
        this.emit('connect-result', { member: s.member, ok: false, error: 'timeout', durationMs: now - s.awaitingSince });
      }
    }
  };

  #closeSocket(): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined) return Promise.resolve();
    this.#socket = undefined;
    this.#owner.socket?.close();
    this.#owner.socket = undefined;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#pool.off('state', this.#onMemberState);
    return new Promise((resolve) => socket.close(() => resolve()));
  }

  /** The session's view of this listener: its socket, its settings, and what it reports. */
  #makeOwner(): Owner {
    return {
      socket: undefined,
      responsesPerSession: this.#config.responsesPerSession,
      answered: (s, member) => {
        this.emit('connect-result', { member, ok: true, durationMs: performance.now() - s.awaitingSince });
      },
      upstreamFailed: (s, member, err, sending) => this.#upstreamFailed(s, member, err, sending),
      dropped: (reason, bytes) => this.#drop(reason, bytes),
      done: (s) => this.#end(s, 'responses-done'),
      release: (s, reason) => {
        if (reason === 'shutdown') this.#end(s, 'shutdown');
        else if (s.member !== undefined) this.#leave(s, s.member);
      },
    };
  }
}

/**
 * One proxied TCP connection, from an admitted client socket to its end:
 *
 *   header     (acceptProxyProtocol) read a PROXY v1/v2 header, bounded in size and time
 *   connecting pick a member, connect with connectTimeout; on failure the next one, up to `retries`
 *              more; client bytes that arrive meanwhile are held (bounded) and sent after the
 *              outgoing PROXY header
 *   open       relay both ways on plain socket events: write() false pauses the source until
 *              'drain'; a FIN is passed on as end() of the other side's write half; the connection
 *              ends when both sockets have closed; an error on either destroys both
 *
 * firstByteTimeout is measured from the later of connect success and the moment the client's
 * first bytes reach the member, so a member is not blamed for a client's think time once the
 * client has spoken. (A client that says nothing for longer than firstByteTimeout after connect
 * still makes the member look silent: set it only for protocols whose clients speak at once or
 * whose servers greet.) A silent member is reported as a failed connect ('silent'). With
 * replayOnSilence, while the member has said nothing and the client's bytes fit in
 * replayBufferSize, those bytes are kept; on silence another member is connected *before* the
 * silent one is dropped, the bytes are replayed to it, and a 'reroute' is published. With no
 * other member to take it, or if none connects, the connection stays on the silent member,
 * so rerouting never makes things worse. The same copy also saves the connection when the
 * member fails outright before answering (reset, close, marked down or drained): it moves to
 * another member at once and the bytes are replayed there. Once the member answers, or the
 * bytes overflow the buffer, the copy is dropped and the connection can no longer move.
 *
 * idleTimeout closes a connection with no bytes in either direction for that long: each chunk
 * stamps the time, one timer per connection checks the stamp when it fires.
 */
// Imported, not the globals: those are getters on globalThis, and both are used on every chunk.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { ServiceConfig } from '../config/types.js';
import { formatEndpoint, unmapIPv4 } from '../net/address.js';
import { IGNORE, RawSocket, type PeerAddress, type SocketEvents } from '../net/raw-socket.js';
import type { Attachment, Member } from '../pool/member.js';
import type { Pool } from '../pool/pool.js';
import { buildProxyV1, buildProxyV2, parseProxyHeader, V2_DEFAULT_MAX_LENGTH } from './proxy-protocol.js';
import type { ConnectResult, EndReason, SessionRecord } from './types.js';

/** What a session reports to its listener. */
export interface SessionOwner {
  readonly pool: Pool;
  connectResult(result: ConnectResult): void;
  rerouted(from: Member, to: Member): void;
  ended(session: TcpSession, record: SessionRecord): void;
}

export interface SessionOptions {
  /** How long a client may take to send its whole PROXY header. */
  proxyHeaderTimeout: number;
}

/** Client bytes held while no member is connected; past this the client is paused until one is. */
const HOLD_LIMIT = 64 * 1024;

const HEADER = 0;
const CONNECTING = 1;
const OPEN = 2;
const CLOSED = 3;

const END_REASONS: ReadonlySet<string> = new Set<EndReason>([
  'client-closed',
  'member-closed',
  'idle-timeout',
  'connect-failed',
  'no-member',
  'refused-acl',
  'refused-max-connections',
  'proxy-header',
  'member-down',
  'drained',
  'failback',
  'shutdown',
  'responses-done',
  'error',
]);

/** A peer going away (reset, broken pipe, keepalive timeout) is a close, not a fault of ours. */
const PEER_GONE: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);

/** Failures of this host, not of the member (out of descriptors, ports, memory): never held against it. */
const LOCAL_ERRORS: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL']);

function noop(): void {}

/** A connect failure as passive health names it. */
function classify(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return 'unreachable';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'ECONNRESET':
      return 'reset';
    default:
      return err.code?.toLowerCase() ?? 'error';
  }
}

interface Attempt {
  socket: RawSocket;
  member: Member;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
  /** Moving a silent connection: the current member stays until this one connects. */
  reroute: boolean;
}

export class TcpSession implements Attachment {
  /** Socket events, one table per role shared by every session (no closures per connection). */
  static readonly #headerEvents: SocketEvents<TcpSession> = {
    connect: noop,
    data: (s, chunk) => s.#onHeaderData(chunk),
    end: (s) => s.#onHeaderEnd(),
    drain: (s) => s.#onClientDrain(),
    error: (s, err) => s.#onClientError(err),
    close: (s) => s.#onClientClose(),
  };

  static readonly #clientEvents: SocketEvents<TcpSession> = {
    connect: noop,
    data: (s, chunk) => s.#onClientData(chunk),
    end: (s) => s.#onClientEnd(),
    drain: (s) => s.#onClientDrain(),
    error: (s, err) => s.#onClientError(err),
    close: (s) => s.#onClientClose(),
  };

  static readonly #attemptEvents: SocketEvents<TcpSession> = {
    connect: (s) => s.#onAttemptConnect(),
    data: noop,
    end: noop,
    drain: noop,
    error: (s, err) => s.#onAttemptError(err),
    close: noop,
  };

  static readonly #memberEvents: SocketEvents<TcpSession> = {
    connect: noop,
    data: (s, chunk) => s.#onMemberData(chunk),
    end: (s) => s.#onMemberEnd(),
    drain: (s) => s.#onUpstreamDrain(),
    error: (s, err) => s.#onUpstreamError(err),
    close: (s) => s.#onUpstreamClose(),
  };

  /** Timer callbacks shared by every session; the session comes as the timer's argument. */
  static readonly #timer = {
    headerTimeout(session: TcpSession): void {
      session.#onHeaderTimeout();
    },
    attemptTimeout(session: TcpSession): void {
      session.#onAttemptTimeout();
    },
    idle(session: TcpSession): void {
      session.#onIdleTimer();
    },
    silent(session: TcpSession): void {
      session.#onSilent();
    },
  };

  readonly #owner: SessionOwner;
  readonly #config: ServiceConfig;
  readonly #client: RawSocket;
  readonly #startedAt = performance.now();
  #phase = CONNECTING;

  #clientIp: string;
  #clientPort: number;
  /** Where the client connected to: the outgoing PROXY header's destination (read only when one is sent: getsockname costs a syscall). */
  #localIp: string | undefined;
  #localPort = 0;

  #member: Member | undefined;
  #upstream: RawSocket | undefined;
  #attempt: Attempt | undefined;
  /** The last member a (non-reroute) connect went to: the record's member when none accepted. */
  #lastTried: Member | undefined;
  /** Members tried already, excluded from the next pick: a Set only once a second one is tried (most connections try one). */
  #tried: Member | Set<Member> | undefined;
  #attempts = 0;
  #rerouteAttempts = 0;
  #reroutes = 0;
  /** Moving away from a member that failed before answering: the reroute is published on connect. */
  #movingFrom: Member | undefined;
  #lastError: string | undefined;
  #proxyHeader: Buffer | undefined;

  /** Client bytes received before a member connected, then (replayOnSilence) until it answers. */
  #held: Buffer[] | undefined;
  #heldBytes = 0;
  /** Still copying client bytes for a replay. */
  #recording = false;
  /** The member has sent something (or ended): no more silence tracking. */
  #answered = true;
  /** The client has sent bytes to the current member (restarts the silence clock once). */
  #clientSpoke = false;

  #clientEnded = false;
  #memberEnded = false;
  #clientClosed = false;
  #upstreamClosed = false;
  #firstEnd: 'client' | 'member' | undefined;

  #bytesIn = 0;
  #bytesOut = 0;
  #lastActivity = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #silentTimer: NodeJS.Timeout | undefined;
  /** When the member's silence clock started (connect, or the client's first bytes after it). */
  #silentFrom = 0;
  #headerTimer: NodeJS.Timeout | undefined;
  #headerBuf: Buffer | undefined;

  /** `handle`: the client's accepted connection; `peer`: its address, read at admission. */
  constructor(owner: SessionOwner, config: ServiceConfig, handle: unknown, peer: PeerAddress) {
    this.#owner = owner;
    this.#config = config;
    this.#client = RawSocket.accept(handle, TcpSession.#clientEvents, this);
    this.#clientIp = unmapIPv4(peer.address);
    this.#clientPort = peer.port;
  }

  /** The member serving the connection now, if any. */
  get member(): Member | undefined {
    return this.#member;
  }

  start(opts: SessionOptions): void {
    if (this.#config.acceptProxyProtocol) {
      this.#phase = HEADER;
      this.#client.setEvents(TcpSession.#headerEvents, this);
      this.#headerTimer = setTimeout(TcpSession.#timer.headerTimeout, opts.proxyHeaderTimeout, this);
      this.#client.resume();
      return;
    }
    this.#route();
  }

  /** Attachment: ends the connection now (member down, drained, failback, shutdown…). */
  close(reason: string): void {
    if ((reason === 'member-down' || reason === 'drained') && this.#moveAway('down', `member ${reason}`)) return;
    if (END_REASONS.has(reason)) this.#end(reason as EndReason);
    else this.#end('error', reason);
  }

  // ── header ────────────────────────────────────────────────────────────────

  #onHeaderData(chunk: Buffer): void {
    const buf = this.#headerBuf === undefined ? chunk : Buffer.concat([this.#headerBuf, chunk]);
    let result;
    try {
      result = parseProxyHeader(buf, V2_DEFAULT_MAX_LENGTH);
    } catch (err) {
      this.#end('proxy-header', (err as Error).message);
      return;
    }
    if (!result.done) {
      this.#headerBuf = buf;
      return;
    }
    clearTimeout(this.#headerTimer);
    this.#headerTimer = undefined;
    this.#headerBuf = undefined;
    const h = result.header;
    if (h.command === 'proxy' && h.source !== undefined && h.destination !== undefined) {
      this.#clientIp = unmapIPv4(h.source.address);
      this.#clientPort = h.source.port;
      this.#localIp = unmapIPv4(h.destination.address);
      this.#localPort = h.destination.port;
    }
    this.#client.setEvents(TcpSession.#clientEvents, this);
    this.#phase = CONNECTING;
    if (result.length < buf.length) this.#hold(buf.subarray(result.length));
    this.#route();
  }

  #onHeaderEnd(): void {
    if (this.#headerBuf === undefined) this.#end('client-closed');
    else this.#end('proxy-header', 'the client closed before its PROXY header was complete');
  }

  #onHeaderTimeout(): void {
    this.#headerTimer = undefined;
    this.#end('proxy-header', 'no complete PROXY header in time');
  }

  // ── connecting ────────────────────────────────────────────────────────────

  #route(): void {
    const member = this.#pick();
    if (member === undefined) {
      this.#end('no-member');
      return;
    }
    this.#connect(member, false);
    this.#client.resume();
  }

  #pick(): Member | undefined {
    const t = this.#tried;
    const exclude = t === undefined || t instanceof Set ? t : (this.#tried = new Set([t]));
    return this.#owner.pool.pick({ clientIp: this.#clientIp, clientPort: this.#clientPort, exclude });
  }

  #connect(member: Member, reroute: boolean): void {
    const t = this.#tried;
    if (t === undefined) this.#tried = member;
    else if (t instanceof Set) t.add(member);
    else if (t !== member) this.#tried = new Set([t, member]);
    if (reroute) this.#rerouteAttempts++;
    else {
      this.#attempts++;
      this.#lastTried = member;
    }
    // Counted from the attempt on, so leastconn and per-member limits see connections in flight.
    member.active++;
    const startedAt = performance.now();
    let socket: RawSocket;
    try {
      socket = RawSocket.connect(member.address.host, member.address.port, TcpSession.#attemptEvents, this);
      // Reading is armed with the connect (one epoll registration); nothing arrives before it completes.
      socket.resume();
    } catch (err) {
      // An address Node refuses to try (say, port 0), or no descriptor left to try it with.
      member.active--;
      const code = (err as NodeJS.ErrnoException).code ?? '';
      this.#failed(member, reroute, startedAt, LOCAL_ERRORS.has(code) ? undefined : 'invalid', (err as Error).message);
      return;
    }
    const timeout = this.#config.connectTimeout;
    this.#attempt = {
      socket,
      member,
      startedAt,
      timer: timeout > 0 ? setTimeout(TcpSession.#timer.attemptTimeout, timeout, this) : undefined,
      reroute,
    };
  }

  #onAttemptConnect(): void {
    const a = this.#attempt!;
    clearTimeout(a.timer);
    a.timer = undefined;
    this.#owner.connectResult({ member: a.member, ok: true, durationMs: performance.now() - a.startedAt });
    // A subscriber may have ended the session meanwhile; the attempt was then dropped with it.
    if (this.#attempt !== a) return;
    this.#attempt = undefined;
    if (a.reroute) this.#switchTo(a.socket, a.member);
    else this.#open(a.socket, a.member);
  }

  #onAttemptError(err: NodeJS.ErrnoException): void {
    this.#attemptFailed(LOCAL_ERRORS.has(err.code ?? '') ? undefined : classify(err), err.message);
  }

  #onAttemptTimeout(): void {
    this.#attempt!.timer = undefined;
    this.#attemptFailed('timeout', `connecting timed out after ${this.#config.connectTimeout}ms`);
  }

  #attemptFailed(error: string | undefined, text: string): void {
    const a = this.#abortAttempt()!;
    this.#failed(a.member, a.reroute, a.startedAt, error, text);
  }

  /**
   * Reports a failed attempt (`error` undefined: a local failure, not reported) and tries the
   * next member while the budget lasts.
   */
  #failed(member: Member, reroute: boolean, startedAt: number, error: string | undefined, text: string): void {
    this.#lastError = `${member.id}: ${text}`;
    if (error !== undefined) {
      this.#owner.connectResult({ member, ok: false, error, durationMs: performance.now() - startedAt });
      if (this.#phase === CLOSED) return;
    }
    const used = reroute ? this.#rerouteAttempts : this.#attempts;
    const next = used <= this.#config.retries ? this.#pick() : undefined;
    if (next !== undefined) this.#connect(next, reroute);
    else if (!reroute) this.#end('connect-failed', this.#lastError);
    // A reroute that found no taker leaves the connection on its current member.
  }

  /** Drops the attempt in flight, if any; returns it. */
  #abortAttempt(): Attempt | undefined {
    const a = this.#attempt;
    if (a === undefined) return undefined;
    this.#attempt = undefined;
    clearTimeout(a.timer);
    a.socket.setEvents(IGNORE, undefined);
    a.socket.destroy();
    a.member.active--;
    return a;
  }

  // ── open ──────────────────────────────────────────────────────────────────

  #open(socket: RawSocket, member: Member): void {
    this.#phase = OPEN;
    const cfg = this.#config;
    if (cfg.sendProxyProtocol !== 'off') this.#proxyHeader = this.#buildProxyHeader();
    this.#attach(socket, member);
    if (this.#movingFrom !== undefined) {
      this.#reroutes++;
      this.#owner.rerouted(this.#movingFrom, member);
      this.#movingFrom = undefined;
    }
    this.#lastActivity = performance.now();
    if (cfg.idleTimeout > 0) this.#idleTimer = setTimeout(TcpSession.#timer.idle, cfg.idleTimeout, this);
    const replay = cfg.replayOnSilence && cfg.firstByteTimeout > 0 && this.#heldBytes <= cfg.replayBufferSize;
    this.#sendHeld(socket, member);
    if (!replay) this.#dropHeld();
    this.#recording = replay;
    if (cfg.firstByteTimeout > 0) this.#watchSilence();
    if (this.#clientEnded) socket.end();
    if (!socket.needDrain) this.#client.resume();
  }

  #attach(socket: RawSocket, member: Member): void {
    this.#member = member;
    this.#upstream = socket;
    this.#upstreamClosed = false;
    member.attachments.add(this);
    socket.setEvents(TcpSession.#memberEvents, this);
    // Member bytes are written on and never kept (and the member is paused while the client is full).
    socket.reuseReadBuffer();
    socket.resume();
  }

  /** Lets go of the current member's socket (reroute, end) without touching the client. */
  #detach(): void {
    const socket = this.#upstream;
    const member = this.#member;
    if (socket !== undefined) {
      socket.setEvents(IGNORE, undefined);
      socket.destroy();
      this.#upstream = undefined;
    }
    if (member !== undefined) {
      member.active--;
      member.attachments.delete(this);
    }
  }

  /** The outgoing PROXY header, then the held client bytes, in one write. */
  #sendHeld(socket: RawSocket, member: Member): void {
    if (this.#proxyHeader === undefined && this.#held === undefined) return;
    const parts = this.#held === undefined ? [] : [...this.#held];
    if (this.#proxyHeader !== undefined) parts.unshift(this.#proxyHeader);
    socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    member.bytesIn += this.#heldBytes;
    if (this.#heldBytes > 0) this.#clientSpoke = true;
  }

  #dropHeld(): void {
    this.#held = undefined;
    this.#heldBytes = 0;
    this.#recording = false;
    // No client byte is kept from here on: once open, a connection records only at its start.
    if (this.#phase === OPEN) this.#client.reuseReadBuffer();
  }

  #hold(chunk: Buffer): void {
    (this.#held ??= []).push(chunk);
    this.#heldBytes += chunk.length;
    this.#bytesIn += chunk.length;
  }

  #buildProxyHeader(): Buffer {
    if (this.#localIp === undefined) {
      const local = this.#client.localAddress();
      this.#localIp = unmapIPv4(local?.address ?? '');
      this.#localPort = local?.port ?? 0;
    }
    const conn =
      this.#clientIp === '' || this.#localIp === ''
        ? undefined
        : {
            source: { address: this.#clientIp, port: this.#clientPort },
            destination: { address: this.#localIp, port: this.#localPort },
          };
    return this.#config.sendProxyProtocol === 'v1' ? buildProxyV1(conn) : buildProxyV2(conn);
  }

  #onClientData(chunk: Buffer): void {
    this.#lastActivity = performance.now();
    const up = this.#upstream;
    if (up === undefined) {
      this.#hold(chunk);
      if (this.#heldBytes >= HOLD_LIMIT) this.#client.pause();
      return;
    }
    const n = chunk.length;
    this.#bytesIn += n;
    this.#member!.bytesIn += n;
    if (!this.#answered) this.#beforeAnswer(chunk);
    if (!up.write(chunk)) this.#client.pause();
  }

  #onMemberData(chunk: Buffer): void {
    this.#lastActivity = performance.now();
    if (!this.#answered) this.#onAnswer();
    const n = chunk.length;
    this.#bytesOut += n;
    this.#member!.bytesOut += n;
    if (!this.#client.write(chunk)) this.#upstream!.pause();
  }

  #onUpstreamDrain(): void {
    this.#client.resume();
  }

  #onClientDrain(): void {
    this.#upstream?.resume();
  }

  #onClientEnd(): void {
    this.#clientEnded = true;
    this.#firstEnd ??= 'client';
    // While connecting, the FIN follows the held bytes once a member connects.
    this.#upstream?.end();
  }

  #onMemberEnd(): void {
    if (this.#moveAway('closed', 'the member closed before answering')) return;
    this.#memberEnded = true;
    this.#firstEnd ??= 'member';
    if (!this.#answered) this.#onAnswer();
    this.#client.end();
  }

  #onClientClose(): void {
    this.#clientClosed = true;
    this.#closed();
  }

  #onUpstreamClose(): void {
    if (this.#moveAway('closed', 'the member closed before answering')) return;
    this.#upstreamClosed = true;
    this.#closed();
  }

  /** Both sockets closed after both FINs: a clean end. A socket closing otherwise ends it all. */
  #closed(): void {
    if (this.#phase === CLOSED) return;
    const reason = this.#firstEnd === 'member' ? 'member-closed' : 'client-closed';
    if (this.#phase !== OPEN || !(this.#clientEnded && this.#memberEnded)) this.#end(reason);
    else if (this.#clientClosed && this.#upstreamClosed) this.#end(reason);
  }

  #onClientError(err: NodeJS.ErrnoException): void {
    this.#end(err.code !== undefined && PEER_GONE.has(err.code) ? 'client-closed' : 'error', `client: ${err.message}`);
  }

  #onUpstreamError(err: NodeJS.ErrnoException): void {
    if (this.#moveAway(classify(err), `member: ${err.message}`)) return;
    this.#end(err.code !== undefined && PEER_GONE.has(err.code) ? 'member-closed' : 'error', `member: ${err.message}`);
  }

  #onIdleTimer(): void {
    const idle = performance.now() - this.#lastActivity;
    const limit = this.#config.idleTimeout;
    if (idle >= limit) this.#end('idle-timeout');
    else this.#idleTimer = setTimeout(TcpSession.#timer.idle, limit - idle, this);
  }

  // ── silence and replay ────────────────────────────────────────────────────

  #watchSilence(): void {
    this.#answered = false;
    this.#silentFrom = performance.now();
    this.#silentTimer = setTimeout(TcpSession.#timer.silent, this.#config.firstByteTimeout, this);
  }

  /** Client bytes while the member has not answered: restart the clock once, copy for replay. */
  #beforeAnswer(chunk: Buffer): void {
    if (!this.#clientSpoke) {
      this.#clientSpoke = true;
      this.#silentFrom = performance.now();
      this.#silentTimer?.refresh();
    }
    if (!this.#recording) return;
    if (this.#heldBytes + chunk.length > this.#config.replayBufferSize) {
      this.#dropHeld();
      this.#abortAttempt();
      return;
    }
    (this.#held ??= []).push(chunk);
    this.#heldBytes += chunk.length;
  }

  #onAnswer(): void {
    this.#answered = true;
    clearTimeout(this.#silentTimer);
    this.#silentTimer = undefined;
    this.#dropHeld();
    // The silent member spoke after all: stay with it.
    this.#abortAttempt();
  }

  #onSilent(): void {
    this.#silentTimer = undefined;
    const member = this.#member!;
    const waited = performance.now() - this.#silentFrom;
    this.#owner.connectResult({ member, ok: false, error: 'silent', durationMs: waited });
    if (this.#phase === CLOSED || !this.#recording) return;
    const next = this.#pick();
    if (next === undefined) return;
    this.#rerouteAttempts = 0;
    this.#connect(next, true);
  }

  /**
   * The member failed before saying anything while every client byte is still kept
   * (replayOnSilence): move the connection to another member and replay them there.
   * Returns false (the caller ends the connection) when it cannot move.
   */
  #moveAway(error: string, text: string): boolean {
    if (this.#phase !== OPEN || !this.#recording || this.#answered) return false;
    // A move begun on silence may already be connecting: it takes the connection over.
    const moving = this.#attempt?.reroute === true ? this.#attempt : undefined;
    const next = moving === undefined ? this.#pick() : undefined;
    if (moving === undefined && next === undefined) return false;
    const from = this.#member!;
    this.#lastError = `${from.id}: ${text}`;
    this.#owner.connectResult({ member: from, ok: false, error, durationMs: performance.now() - this.#silentFrom });
    if (this.#phase !== OPEN) return true;
    clearTimeout(this.#silentTimer);
    clearTimeout(this.#idleTimer);
    this.#silentTimer = this.#idleTimer = undefined;
    if (moving !== undefined) moving.reroute = false;
    this.#detach();
    this.#member = undefined;
    this.#clientSpoke = false;
    this.#answered = true;
    this.#movingFrom = from;
    this.#phase = CONNECTING;
    if (next !== undefined) this.#connect(next, false);
    return true;
  }

  #switchTo(socket: RawSocket, member: Member): void {
    const from = this.#member!;
    this.#detach();
    this.#attach(socket, member);
    this.#clientSpoke = false;
    this.#sendHeld(socket, member);
    if (this.#clientEnded) socket.end();
    this.#reroutes++;
    this.#owner.rerouted(from, member);
    this.#watchSilence();
    if (!socket.needDrain) this.#client.resume();
  }

  // ── end ───────────────────────────────────────────────────────────────────

  #end(reason: EndReason, error?: string): void {
    if (this.#phase === CLOSED) return;
    this.#phase = CLOSED;
    clearTimeout(this.#headerTimer);
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#silentTimer);
    this.#headerTimer = this.#idleTimer = this.#silentTimer = undefined;
    this.#abortAttempt();
    const member = this.#member ?? this.#lastTried;
    this.#detach();
    this.#client.destroy();
    this.#dropHeld();
    this.#headerBuf = undefined;
    const record: SessionRecord = {
      service: this.#config.name,
      protocol: 'tcp',
      client: this.#clientIp === '' ? '' : formatEndpoint({ host: this.#clientIp, port: this.#clientPort }),
      member: member?.id,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      durationMs: Math.round(performance.now() - this.#startedAt),
      end: reason,
      retries: Math.max(0, this.#attempts - 1),
    };
    if (this.#reroutes > 0) record.reroutes = this.#reroutes;
    const err = error ?? (reason === 'connect-failed' ? this.#lastError : undefined);
    if (err !== undefined) record.error = err;
    this.#owner.ended(this, record);
  }
}

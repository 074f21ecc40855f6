/**
 * One UDP session: a client (address and port) and the upstream socket that
 * carries its datagrams to one member.
 *
 * The upstream socket is connect()ed to the member, so the kernel passes up
 * only that member's replies, and an ICMP port-unreachable from it surfaces as
 * ECONNREFUSED on this socket: the fastest failure signal UDP has. Replies
 * leave through the listener's socket, so the client hears back from the
 * address it wrote to.
 *
 * A session may be detached from its member (the member went down, drained,
 * or lost a failback) and go on without one: the listener gives it a new
 * member at its next datagram. The session itself never picks; it reports to
 * its owner, the listener, which holds the pool and publishes events.
 */
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { formatEndpoint } from '../net/address.js';
import { RawUdp, type DatagramEvents } from '../net/raw-udp.js';
import type { Attachment, Member } from '../pool/member.js';

/** Largest UDP payloads: 65535 less the IPv4 (20) and UDP (8) headers; IPv6's length field excludes its header. */
const MAX_PAYLOAD_V4 = 65_507;
const MAX_PAYLOAD_V6 = 65_527;
/** Datagrams held while a new upstream socket connects (a few event-loop turns). */
const MAX_PENDING = 64;
/**
 * The client datagrams a session holds for resending after ICMP unreachable: references to the received Buffers
 * (no copies), only those still unanswered (at least the last two), at most RESEND_DEPTH of them (a power of two)
 * and, past the byte budget, only the newest.
 */
const RESEND_DEPTH = 64;
const RESEND_BUDGET_BYTES = 64 * 1024;
const RESEND_MIN = 2;

/** The latest datagrams, oldest first, in a ring that grows in powers of two up to RESEND_DEPTH. */
class RecentDatagrams {
  #ring = new Array<Buffer | undefined>(4);
  /** Indexes `#oldest` up to `#head` (exclusive) are held. */
  #head = 0;
  #oldest = 0;
  #bytes = 0;

  get size(): number {
    return this.#head - this.#oldest;
  }

  push(msg: Buffer): void {
    if (this.size === this.#ring.length) {
      if (this.#ring.length < RESEND_DEPTH) this.#grow();
      else this.#forgetOldest();
    }
    this.#ring[this.#head++ & (this.#ring.length - 1)] = msg;
    this.#bytes += msg.length;
    while (this.#bytes > RESEND_BUDGET_BYTES && this.size > 1) this.#forgetOldest();
  }

  /** Lets go of all but the newest `n`. */
  keep(n: number): void {
    while (this.size > n) this.#forgetOldest();
  }

  /** The newest `count`, oldest first. */
  latest(count: number): Buffer[] {
    const out: Buffer[] = [];
    const mask = this.#ring.length - 1;
    for (let i = this.#head - Math.min(count, this.size); i < this.#head; i++) out.push(this.#ring[i & mask]!);
    return out;
  }

  #forgetOldest(): void {
    const i = this.#oldest++ & (this.#ring.length - 1);
    this.#bytes -= this.#ring[i]!.length;
    this.#ring[i] = undefined;
  }

  #grow(): void {
    const old = this.#ring;
    this.#ring = new Array<Buffer | undefined>(old.length * 2);
    for (let i = this.#oldest; i < this.#head; i++) this.#ring[i & (this.#ring.length - 1)] = old[i & (old.length - 1)];
  }
}

/** What a session needs from its listener. */
export interface SessionOwner {
  /** The listening socket: replies go out through it (there while the listener listens, as its sessions are). */
  readonly socket: RawUdp | undefined;
  /** The session ends once replies reach this many per client datagram (0 = unlimited). */
  readonly responsesPerSession: number;
  /** The member answered for the first time since the session attached to it, or since it was reported silent. */
  answered(session: UdpSession, member: Member): void;
  /** The upstream socket failed (ICMP unreachable, or another error); `sending`: a send failed, its datagram unsent. */
  upstreamFailed(session: UdpSession, member: Member, err: NodeJS.ErrnoException, sending: boolean): void;
  /** A datagram could not be passed on. */
  dropped(reason: 'too-large' | 'send-failed', bytes: number): void;
  /** The session heard all the replies it waits for (`responsesPerSession`). */
  done(session: UdpSession): void;
  /** The service closed the session as an attachment of its member (`Attachment.close`). */
  release(session: UdpSession, reason: string): void;
}

export class UdpSession implements Attachment {
  /** The client's address and port as the listening socket reports them (the session table's key). */
  readonly clientAddress: string;
  readonly clientPort: number;
  /** The client's address with an IPv4-mapped form unmapped, as ACLs and balancers see it. */
  readonly clientIp: string;
  /** `ip:port` for the access log. */
  readonly client: string;
  readonly startedAt = performance.now();

  /** The member serving the session; undefined while it waits for a new one. */
  member: Member | undefined;
  /** The member it was last attached to (the access log names it when the session ends detached). */
  previous: Member | undefined;
  /** Members that proved unreachable for the current datagram; reset by each new client datagram. */
  tried: Set<Member> | undefined;

  bytesIn = 0;
  bytesOut = 0;
  datagramsIn = 0;
  datagramsOut = 0;
  /** Members that proved unreachable before one took a datagram. */
  retries = 0;
  /** Times the session moved to another member. */
  reroutes = 0;

  /** Set by every datagram either way; the listener's sweep clears it and measures idleness from there. */
  touched = true;
  idleSince = this.startedAt;
  /** A datagram went to the member and no reply has come back since `awaitingSince`. */
  awaiting = false;
  awaitingSince = 0;
  /** Reported silent (reply timeout); the next reply reports the member as answering again. */
  silent = false;

  readonly #owner: SessionOwner;
  readonly #maxToClient: number;
  #maxToMember = MAX_PAYLOAD_V4;
  #upstream: RawUdp | undefined;
  #pending: Buffer[] | undefined;
  #answered = false;
  readonly #recent = new RecentDatagrams();
  /** Datagrams sent to, and replies from, the current member. */
  #sentToMember = 0;
  #repliesFromMember = 0;

  constructor(owner: SessionOwner, address: string, port: number, clientIp: string) {
    this.#owner = owner;
    this.clientAddress = address;
    this.clientPort = port;
    this.clientIp = clientIp;
    this.client = formatEndpoint({ host: clientIp, port });
    this.#maxToClient = isIP(clientIp) === 4 ? MAX_PAYLOAD_V4 : MAX_PAYLOAD_V6;
  }

  /** Opens an upstream socket connected to `member` and registers the session on it. */
  attach(member: Member): void {
    this.#maxToMember = isIP(member.address.host) === 6 ? MAX_PAYLOAD_V6 : MAX_PAYLOAD_V4;
    this.member = member;
    this.#answered = false;
    this.#sentToMember = 0;
    this.#repliesFromMember = 0;
    this.silent = false;
    this.awaiting = false;
    member.active++;
    member.attachments.add(this);
    // A closed upstream socket reports nothing more, so whatever one reports is about the current member.
    this.#upstream = RawUdp.connect(member.address.host, member.address.port, UdpSession.#upstreamEvents, this);
  }

  static readonly #upstreamEvents: DatagramEvents<UdpSession> = {
    message: (s, msg) => s.#onReply(msg),
    connect: (s) => {
      const pending = s.#pending;
      s.#pending = undefined;
      if (pending) for (const msg of pending) s.#upstream!.send(msg);
    },
    error: (s, err, sending) => s.#owner.upstreamFailed(s, s.member!, err, sending),
  };

  /** Closes the upstream socket and leaves the member: to wait for a new one, or to end. */
  detach(): void {
    const member = this.member;
    if (member === undefined) return;
    this.previous = member;
    this.member = undefined;
    member.active--;
    member.attachments.delete(this);
    this.#closeUpstream();
  }

  /** A client datagram: relays it to the member. Returns false when it is too large for the member's family. */
  forward(msg: Buffer): boolean {
    this.touched = true;
    if (msg.length > this.#maxToMember) return false;
    this.#recent.push(msg);
    this.tried = undefined;
    this.datagramsIn++;
    this.bytesIn += msg.length;
    this.#send(msg);
    this.#recent.keep(Math.max(RESEND_MIN, this.#estimate(false)));
    return true;
  }

  /**
   * How many of the latest datagrams the current member left unanswered, as far as replies tell:
   * with `responsesPerSession` N, those sent less replies / N; else, once the member has replied, those sent
   * less replies (as if one reply each); else the last one, or the last two when a send failed (the refusal a
   * send reports is the ICMP answer to the datagram before it). A resend goes to a member that never saw them.
   */
  unanswered(sending: boolean): number {
    return Math.max(0, Math.min(this.#estimate(sending), this.#sentToMember, this.#recent.size));
  }

  /**
   * For a session that did not see its member fail itself: how many datagrams it waits on replies for, counted
   * as in `unanswered`; 0 when it has sent nothing since the last reply, or its traffic gets no replies at all.
   */
  waitingFor(): number {
    if (!this.awaiting || (this.#owner.responsesPerSession === 0 && this.#repliesFromMember === 0)) return 0;
    return this.unanswered(false);
  }

  /** Sends the latest `count` client datagrams again, oldest first (to a new member, after the old one failed). */
  resend(count: number): void {
    for (const msg of this.#recent.latest(count)) this.#send(msg);
  }

  /** Attachment: the service ends this session's hold on its member (member down, drain timeout, failback). */
  close(reason: string): void {
    this.#owner.release(this, reason);
  }

  #send(msg: Buffer): void {
    const member = this.member!;
    member.bytesIn += msg.length;
    this.#sentToMember++;
    if (!this.awaiting) {
      this.awaiting = true;
      this.awaitingSince = performance.now();
    }
    const up = this.#upstream!;
    if (up.connected) {
      up.send(msg);
    } else if ((this.#pending ??= []).length < MAX_PENDING) {
      this.#pending.push(msg);
    } else {
      this.#owner.dropped('send-failed', msg.length);
    }
  }

  #estimate(sending: boolean): number {
    const n = this.#owner.responsesPerSession;
    const sent = this.#sentToMember;
    const replies = this.#repliesFromMember;
    return n > 0 ? sent - Math.floor(replies / n) : replies > 0 ? sent - replies : sending ? 2 : 1;
  }

  #onReply(msg: Buffer): void {
    const member = this.member;
    if (member === undefined) return;
    this.touched = true;
    this.awaiting = false;
    this.datagramsOut++;
    this.#repliesFromMember++;
    this.bytesOut += msg.length;
    member.bytesOut += msg.length;
    if (!this.#answered || this.silent) {
      this.#answered = true;
      this.#owner.answered(this, member);
      this.silent = false;
    }
    if (msg.length > this.#maxToClient) this.#owner.dropped('too-large', msg.length);
    else this.#owner.socket?.sendTo(msg, this.clientPort, this.clientAddress);
    const n = this.#owner.responsesPerSession;
    if (n > 0 && this.datagramsOut >= n * this.datagramsIn) this.#owner.done(this);
    else this.#recent.keep(Math.max(RESEND_MIN, this.#estimate(false)));
  }

  #closeUpstream(): void {
    const sock = this.#upstream;
    if (sock === undefined) return;
    this.#upstream = undefined;
    this.#pending = undefined;
    sock.close();
  }
}

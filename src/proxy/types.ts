/**
 * What the data path publishes. Listeners (TCP and UDP) emit these events;
 * the outlier detector, metrics and the access log subscribe, so the data path
 * never calls them directly.
 */
import type { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Member } from '../pool/member.js';

/** How a TCP connection or UDP session ended (the access log's `end` field). */
export type EndReason =
  | 'client-closed'
  | 'member-closed'
  | 'idle-timeout'
  | 'connect-failed'
  | 'no-member'
  | 'refused-acl'
  | 'refused-max-connections'
  | 'proxy-header'
  | 'member-down'
  | 'drained'
  | 'failback'
  | 'shutdown'
  | 'responses-done'
  | 'error';

export interface SessionRecord {
  service: string;
  protocol: 'tcp' | 'udp';
  /** ip:port of the client (after a PROXY header, the one it named). */
  client: string;
  /** The member that served it (the last one tried), if any. */
  member: string | undefined;
  /** Client → member bytes. */
  bytesIn: number;
  /** Member → client bytes. */
  bytesOut: number;
  /** UDP: datagrams each way. */
  datagramsIn?: number;
  datagramsOut?: number;
  durationMs: number;
  end: EndReason;
  /** Members tried before one accepted (0 = the first accepted). */
  retries: number;
  /** UDP: times the session moved to another member (failover). */
  reroutes?: number;
  error?: string;
}

/** One attempt to reach a member, for passive health (outlier detection). */
export interface ConnectResult {
  member: Member;
  ok: boolean;
  /** 'refused' | 'timeout' | 'unreachable' | 'silent' (firstByteTimeout) | other error code. */
  error?: string;
  durationMs: number;
}

/** UDP: a datagram dropped, and why (metrics count these). */
export interface DropEvent {
  reason: 'max-sessions' | 'no-member' | 'refused-acl' | 'send-failed' | 'too-large';
  bytes: number;
}

export interface ListenerEvents {
  'session-end': [SessionRecord];
  'connect-result': [ConnectResult];
  /** UDP: a session moved to another member (failover); TCP: a connection replayed elsewhere. */
  reroute: [{ from: Member; to: Member }];
  drop: [DropEvent];
  /** TCP: accepting a connection failed (EMFILE, ENFILE…); the listener goes on accepting. */
  'accept-error': [Error];
}

/** A service's listener: TCP (`proxy/tcp.ts`) or UDP (`proxy/udp.ts`). */
export interface Listener extends EventEmitter<ListenerEvents> {
  /** Binds the listen address (port 0 picks one; read it back with address()). */
  listen(): Promise<void>;
  address(): AddressInfo;
  /** Connections (TCP) or sessions (UDP) open now. */
  readonly activeCount: number;
  /** Stops accepting new connections; open ones go on. Resolves when the socket is closed. */
  stopAccepting(): Promise<void>;
  /** Ends every open connection or session now. */
  closeAll(reason: EndReason): void;
}

/**
 * The GET /status document: every service, its routing mode, and each
 * member's state, health flags, weight, connections, bytes and last check.
 * Read from the live objects at request time; nothing here is cached.
 */
import type { ServiceConfig } from '../config/types.js';
import { formatAddress, formatEndpoint } from '../net/address.js';
import { renderFlags, type Member, type MemberState } from '../pool/member.js';
import type { Pool, RoutingMode } from '../pool/pool.js';
import type { Listener } from '../proxy/types.js';
import { version } from '../observe/version.js';

/** What the status needs of a service (src/service.ts provides it). */
export interface StatusSource {
  readonly name: string;
  readonly config: ServiceConfig;
  readonly pool: Pool;
  readonly listener: Pick<Listener, 'address' | 'activeCount'>;
}

export interface CheckStatus {
  at: string;
  ok: boolean;
  detail: string;
  durationMs: number;
}

export interface MemberStatus {
  id: string;
  state: MemberState;
  /** `healthy`, or the flags that hold it back, e.g. `/failedCheck/ejected`. */
  health: string;
  backup: boolean;
  /** True while the member takes new connections. */
  routing: boolean;
  /** Effective weight now (agent percentage and slow start applied), two decimals. */
  weight: number;
  configWeight: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
  /** When the current state began. */
  since: string;
  lastCheck: CheckStatus | null;
  ejections: number;
}

export interface ServiceStatus {
  name: string;
  protocol: ServiceConfig['protocol'];
  /** The bound address (a configured port 0 shows the port picked). */
  listen: string;
  balance: ServiceConfig['balance'];
  check: ServiceConfig['healthCheck']['type'];
  mode: RoutingMode;
  /** Connections (tcp) or sessions (udp) open now, including those still connecting. */
  active: number;
  members: MemberStatus[];
}

export interface Status {
  version: string;
  uptimeSeconds: number;
  services: ServiceStatus[];
  /** With `workers: N` (N > 1): the worker processes serving now. */
  workers?: WorkerStatus[];
}

export interface WorkerStatus {
  pid: number;
  /** 0 … N − 1; a restarted worker takes the slot of the one it replaces. */
  slot: number;
  uptimeSeconds: number;
  /** Restarts of this slot since the balancer started. */
  restarts: number;
}

const processStart = Date.now() - process.uptime() * 1000;

/** Renders the status of the given services; `startedAt` (ms since the epoch) defaults to the process start. */
export function renderStatus(services: Iterable<StatusSource>, startedAt = processStart, now = Date.now()): Status {
  return {
    version,
    uptimeSeconds: Math.max(0, Math.floor((now - startedAt) / 1000)),
    services: [...services].map((s) => renderService(s, now)),
  };
}

function renderService(s: StatusSource, now: number): ServiceStatus {
  const routing = new Set(s.pool.routing);
  return {
    name: s.name,
    protocol: s.config.protocol,
    listen: boundAddress(s),
    balance: s.config.balance,
    check: s.config.healthCheck.type,
    mode: s.pool.mode,
    active: s.listener.activeCount,
    members: s.pool.members.map((m) => renderMember(m, routing.has(m), now)),
  };
}

function renderMember(m: Member, routing: boolean, now: number): MemberStatus {
  return {
    id: m.id,
    state: m.state,
    health: renderFlags(m.flags),
    backup: m.backup,
    routing,
    weight: Math.round(m.weight(now) * 100) / 100,
    configWeight: m.configWeight,
    active: m.active,
    bytesIn: m.bytesIn,
    bytesOut: m.bytesOut,
    since: new Date(m.since).toISOString(),
    lastCheck: m.lastCheck
      ? { at: new Date(m.lastCheck.at).toISOString(), ok: m.lastCheck.ok, detail: m.lastCheck.detail, durationMs: m.lastCheck.durationMs }
      : null,
    ejections: m.ejections,
  };
}

function boundAddress(s: StatusSource): string {
  try {
    const a = s.listener.address();
    if (a && typeof a.port === 'number') return formatAddress(a);
  } catch {
    // Not listening (yet, or any more): show what the config asks for.
  }
  return formatEndpoint(s.config.listen);
}

/**
 * What the load is sent through: straight to a backend (the no-proxy limit),
 * Switchyard, HAProxy or NGINX. Each target turns one description of the
 * services (members, health checks, timeouts) into its own configuration and
 * runs it as a child process.
 */
export interface MemberSpec {
  host: string;
  port: number;
}

export interface ServiceSpec {
  name: string;
  protocol: 'tcp' | 'udp';
  members: MemberSpec[];
  /** The active check that suits the members: a TCP connect, an HTTP GET / expecting 200, or a DNS query. */
  check: CheckKind;
  /** UDP: replies after which a session ends (1 = one query per session, as DNS; 0 = unlimited). */
  udpResponses?: number;
}

export type CheckKind = 'tcp' | 'http' | 'dns';

/** Active health checks, in the words every peer uses (HAProxy inter/fastinter/downinter/rise/fall). */
export interface HealthSpec {
  intervalMs: number;
  fastIntervalMs: number;
  downIntervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

export interface TargetOptions {
  services: ServiceSpec[];
  /** null: no active checks. */
  health: HealthSpec | null;
  /** Switchyard's `workers` (undefined leaves its default, auto). */
  workers?: number;
  /** HAProxy threads and NGINX worker processes. */
  peerWorkers: number;
  connectTimeoutMs: number;
  /** Further members tried when a connect fails. */
  retries: number;
  /** Most client connections the proxy accepts at once. */
  maxConnections: number;
  /** Where configs, sockets and logs go. */
  workDir: string;
  /** Switchyard: write V8 CPU profiles (node --cpu-prof) of every process here. */
  profileDir?: string;
}

export type MemberStates = Record<string, Record<string, string>>;

export interface RunningTarget {
  /** Where clients connect for a service. */
  address(service: string): MemberSpec;
  /** The proxy's main PID (its tree is what CPU and memory are read from); undefined for direct. */
  readonly pid: number | undefined;
  /** The generated configuration, as written. */
  readonly config: string;
  /** service → member address → 'up' | 'down' | 'draining' | …; absent where the target cannot tell. */
  memberStates?(): Promise<MemberStates>;
  /** Stop new connections to a member, keeping open ones (admin drain). */
  drain?(service: string, member: string): Promise<void>;
  stop(): Promise<void>;
}

export interface Target {
  /** The column's name: direct, switchyard, haproxy, nginx, pipe, or a variant (switchyard+replay). */
  readonly name: string;
  /** Why it cannot run here (not installed, not built), or null. */
  missing(): string | null;
  /** Version text for the report. */
  version(): string;
  /** Why it cannot carry a protocol (HAProxy's free version has no UDP), or null. */
  unsupported(protocol: 'tcp' | 'udp'): string | null;
  /** Whether it has active health checks (NGINX OSS stream has only passive max_fails). */
  readonly activeChecks: boolean;
  /** What it has instead, when it has none (shown where a detection time would be). */
  readonly withoutChecks?: string;
  start(options: TargetOptions): Promise<RunningTarget>;
}

export function memberKey(m: MemberSpec): string {
  return `${m.host}:${m.port}`;
}

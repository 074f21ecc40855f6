/**
 * The resolved configuration: every default applied, durations in milliseconds,
 * addresses parsed. `config/load.ts` turns YAML into this; everything else reads only this.
 */
import type { Endpoint } from '../net/address.js';

export type Protocol = 'tcp' | 'udp';
export type BalanceAlgorithm = 'roundrobin' | 'leastconn' | 'random2' | 'maglev' | 'first';
export type HashKey = 'sourceIp' | 'sourceIpPort';
export type ProxyProtocolVersion = 'off' | 'v1' | 'v2';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type HealthCheckType =
  | 'none'
  | 'tcp'
  | 'send-expect'
  | 'http'
  | 'redis'
  | 'postgres'
  | 'mysql'
  | 'agent'
  | 'dns'
  | 'udp-send-expect';

/** What a send-expect step waits for: a substring, a regular expression, or exact bytes. */
export type Expectation =
  | { kind: 'string'; value: string }
  | { kind: 'regex'; value: RegExp }
  | { kind: 'hex'; value: Buffer };

export interface SendExpectStep {
  send?: Buffer;
  expect?: Expectation;
}

export interface HealthCheckConfig {
  type: HealthCheckType;
  /** Between checks while the member is stable. */
  interval: number;
  /** Between checks while the member is between states (rise/fall counting under way). */
  fastInterval: number;
  /** Between checks while the member is down. */
  downInterval: number;
  timeout: number;
  rise: number;
  fall: number;
  /** Fraction (0..1) of the interval by which each wait is randomly shortened or lengthened. */
  jitter: number;
  /** Check this port instead of the member's own (HAProxy `port`); the agent's port for `agent`. */
  port?: number;
  /** send-expect / udp-send-expect: the steps in order (a single `send`/`expect` becomes one step). */
  steps: SendExpectStep[];
  /** http */
  path: string;
  host?: string;
  expectStatus: number[];
  expectBody?: Expectation;
  /** redis, postgres, mysql */
  user?: string;
  password?: string;
  database?: string;
  /** redis: master|replica; postgres: primary|standby; mysql: primary|replica */
  role?: string;
  /** dns */
  query: string;
  queryType: 'A' | 'AAAA' | 'SRV' | 'TXT' | 'NS' | 'MX';
  /** agent: text sent after connecting (HAProxy `agent-send`) */
  agentSend?: string;
}

export interface OutlierConfig {
  /** 0 turns passive ejection off. */
  consecutiveFailures: number;
  ejectTime: number;
  /** Repeat ejections double the time, up to this. */
  maxEjectTime: number;
  maxEjectedPercent: number;
}

export interface MemberConfig {
  address: Endpoint;
  /** The member's id: its canonical address text, as the admin API and metrics name it. */
  id: string;
  weight: number;
  backup: boolean;
  /** Most connections (TCP) or sessions (UDP) at once on this member; 0 = no limit. `first` fills members up to it. */
  maxConnections: number;
}

export interface DiscoveryConfig {
  dns: string;
  type: 'A' | 'AAAA' | 'SRV';
  refresh: number;
  /** Port for A/AAAA answers (SRV carries its own). */
  port?: number;
  weight: number;
  /** The DNS server to ask (host:port); the system's resolvers when absent. */
  resolver?: Endpoint;
}

export interface ServiceConfig {
  name: string;
  protocol: Protocol;
  listen: Endpoint;
  balance: BalanceAlgorithm;
  hashKey: HashKey;
  connectTimeout: number;
  /** 0 = no idle timeout. For udp, the session idle timeout. */
  idleTimeout: number;
  retries: number;
  maxConnections: number;
  sendProxyProtocol: ProxyProtocolVersion;
  acceptProxyProtocol: boolean;
  allow: string[];
  deny: string[];
  onMemberDown: 'close' | 'keep';
  drainTimeout: number;
  slowStart: number;
  failback: 'auto' | 'manual';
  onFailback: 'keep' | 'close';
  allBackups: boolean;
  panic: boolean;
  firstByteTimeout: number;
  replayOnSilence: boolean;
  /** Most client bytes held for replay; past it a connection can no longer be moved. */
  replayBufferSize: number;
  healthCheck: HealthCheckConfig;
  outlier: OutlierConfig;
  members: MemberConfig[];
  discovery?: DiscoveryConfig;
  /** udp: most concurrent sessions; past it datagrams are dropped and counted. */
  maxSessions: number;
  /** udp: the session ends after this many replies (0 = unlimited), as NGINX `proxy_responses`. */
  responsesPerSession: number;
  /** udp: a session that sent and heard nothing back within this counts as a passive failure (0 = off). */
  replyTimeout: number;
}

export interface AdminConfig {
  listen: Endpoint;
  token?: string;
}

export interface Config {
  log: { level: LogLevel; access: boolean };
  /** Processes serving the listeners; 'auto' resolved to the core count. */
  workers: number;
  admin?: AdminConfig;
  services: ServiceConfig[];
}

/**
 * Every default in one place (as fastify keeps them), in resolved units:
 * durations in milliseconds, sizes in bytes. A key left out of the config file
 * takes its value from here; config.example.yaml shows the same values.
 */
import type {
  BalanceAlgorithm,
  HashKey,
  HealthCheckConfig,
  LogLevel,
  OutlierConfig,
  Protocol,
  ProxyProtocolVersion,
} from './types.js';

export const defaults = {
  log: { level: 'info' as LogLevel, access: true },
  /** 'auto' = one process per core (os.availableParallelism()). */
  workers: 'auto' as number | 'auto',
  /** Used when `admin:` is present without `listen`: loopback only. */
  admin: { listen: { host: '127.0.0.1', port: 9901 } },
  service: {
    protocol: 'tcp' as Protocol,
    balance: 'roundrobin' as BalanceAlgorithm,
    hashKey: 'sourceIp' as HashKey,
    connectTimeout: 2_000,
    /** tcp: 1h, as a long-lived database connection may sit quiet; udp uses `udp.idleTimeout`. */
    idleTimeout: 3_600_000,
    retries: 2,
    /** 0 = no limit. */
    maxConnections: 10_000,
    sendProxyProtocol: 'off' as ProxyProtocolVersion,
    acceptProxyProtocol: false,
    /** Empty allow list = every client; deny wins over allow. */
    allow: [] as string[],
    deny: [] as string[],
    onMemberDown: 'close' as 'close' | 'keep',
    /** 0 = a draining member's connections are never cut; they end on their own. */
    drainTimeout: 30_000,
    /** 0 = a recovered member takes its full weight at once. */
    slowStart: 0,
    failback: 'auto' as 'auto' | 'manual',
    onFailback: 'keep' as 'keep' | 'close',
    allBackups: false,
    panic: false,
    /** 0 = off. */
    firstByteTimeout: 0,
    replayOnSilence: false,
    replayBufferSize: 64 * 1024,
  },
  /** What differs for udp services, and the udp-only keys. */
  udp: {
    /** A UDP "session" ends after this much quiet, as NGINX `proxy_timeout` and Envoy `idle_timeout`. */
    idleTimeout: 30_000,
    /** 0 = no limit. */
    maxSessions: 10_000,
    /** 0 = unlimited. */
    responsesPerSession: 0,
    /** 0 = off. */
    replyTimeout: 0,
  },
  /** Applied when `healthCheck` is present; without it the type is 'none' (members are taken as up). */
  healthCheck: {
    /** tcp services; a udp service must name its type (dns or udp-send-expect), there is no generic UDP probe. */
    type: 'tcp',
    interval: 1_000,
    /** Never longer than `interval` unless written: a short interval must not slow down while a member changes state. */
    fastInterval: 250,
    downInterval: 2_000,
    timeout: 500,
    rise: 2,
    fall: 2,
    jitter: 0.1,
    path: '/',
    expectStatus: [200],
    /** postgres needs a user name for its startup message; `postgres` exists on nearly every server. */
    postgresUser: 'postgres',
    /** `dig` with no arguments asks the same: the root's NS records, which any resolver can answer. */
    query: '.',
    queryType: 'NS' as HealthCheckConfig['queryType'],
  },
  outlier: {
    consecutiveFailures: 5,
    ejectTime: 30_000,
    maxEjectTime: 300_000,
    maxEjectedPercent: 50,
  } satisfies OutlierConfig,
  member: {
    weight: 100,
    backup: false,
    /** 0 = no limit. */
    maxConnections: 0,
  },
  discovery: {
    refresh: 10_000,
    weight: 100,
  },
} as const;

/** Limits on numbers, used by validation and named in its messages. */
export const limits = {
  weight: { min: 1, max: 1000 },
  retries: { min: 0, max: 100 },
  workers: { min: 1, max: 1024 },
  replayBufferSize: { min: 1, max: 16 * 1024 * 1024 },
} as const;

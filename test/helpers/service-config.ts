/**
 * A resolved ServiceConfig for tests, with defaults sized for loopback tests
 * (short timeouts, no health checks), and a pool of 'up' members built from it.
 */
import { defaultHealthCheck } from '../../src/config/health-check.js';
import type { MemberConfig, ServiceConfig } from '../../src/config/types.js';
import { formatEndpoint, type Endpoint } from '../../src/net/address.js';
import { Member } from '../../src/pool/member.js';
import { Pool } from '../../src/pool/pool.js';
import { poolOptions } from '../../src/service.js';

export interface MemberSpec {
  weight?: number;
  backup?: boolean;
  maxConnections?: number;
}

/** A member config for an endpoint (a test backend's, usually). */
export function memberConfig(address: Endpoint, spec: MemberSpec = {}): MemberConfig {
  return {
    address: { host: address.host, port: address.port },
    id: formatEndpoint(address),
    weight: spec.weight ?? 100,
    backup: spec.backup ?? false,
    maxConnections: spec.maxConnections ?? 0,
  };
}

export function serviceConfig(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    name: 'test',
    protocol: 'tcp',
    listen: { host: '127.0.0.1', port: 0 },
    balance: 'first',
    hashKey: 'sourceIp',
    connectTimeout: 1000,
    idleTimeout: 30_000,
    retries: 2,
    maxConnections: 0,
    sendProxyProtocol: 'off',
    acceptProxyProtocol: false,
    allow: [],
    deny: [],
    onMemberDown: 'close',
    drainTimeout: 30_000,
    slowStart: 0,
    failback: 'auto',
    onFailback: 'keep',
    allBackups: false,
    panic: false,
    firstByteTimeout: 0,
    replayOnSilence: false,
    replayBufferSize: 64 * 1024,
    healthCheck: { ...defaultHealthCheck(), jitter: 0 },
    outlier: { consecutiveFailures: 0, ejectTime: 10_000, maxEjectTime: 300_000, maxEjectedPercent: 50 },
    members: [],
    maxSessions: 1000,
    responsesPerSession: 0,
    replyTimeout: 0,
    ...overrides,
  };
}

/** The service's members, all 'up' (no checks), in a pool with the service's balance settings. */
export function poolFor(config: ServiceConfig): { pool: Pool; members: Member[] } {
  const members = config.members.map((mc) => new Member(mc, { checked: false, slowStart: 0 }));
  const pool = new Pool(poolOptions(config, 0), members);
  return { pool, members };
}

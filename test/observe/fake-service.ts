/**
 * A service for observer tests: a real Pool of real Members, a resolved
 * ServiceConfig, and an EventEmitter standing in for the listener, so tests
 * emit exactly the session-end, connect-result, reroute and drop events they need.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { defaultHealthCheck } from '../../src/config/health-check.js';
import type { MemberConfig, ServiceConfig } from '../../src/config/types.js';
import { serviceConfig as baseConfig } from '../helpers/service-config.js';
import { parseEndpoint } from '../../src/net/address.js';
import { Member } from '../../src/pool/member.js';
import { Pool } from '../../src/pool/pool.js';
import type { EndReason, Listener, ListenerEvents, SessionRecord } from '../../src/proxy/types.js';
import { poolOptions } from '../../src/service.js';

export function memberConfig(address: string, extra: Partial<MemberConfig> = {}): MemberConfig {
  const ep = parseEndpoint(address);
  if (!ep) throw new Error(`bad address ${address}`);
  return { address: ep, id: address, weight: 100, backup: false, maxConnections: 0, ...extra };
}

export function serviceConfig(name: string, members: MemberConfig[], extra: Partial<ServiceConfig> = {}): ServiceConfig {
  return baseConfig({ name, members, balance: 'roundrobin', healthCheck: defaultHealthCheck('tcp'), ...extra });
}

export class FakeListener extends EventEmitter<ListenerEvents> implements Listener {
  activeCount = 0;
  bound: AddressInfo | undefined;

  async listen(): Promise<void> {
    this.bound = { address: '127.0.0.1', family: 'IPv4', port: 40123 };
  }

  address(): AddressInfo {
    if (!this.bound) throw new Error('not listening');
    return this.bound;
  }

  async stopAccepting(): Promise<void> {}

  closeAll(_reason: EndReason): void {}
}

export interface FakeService {
  name: string;
  config: ServiceConfig;
  pool: Pool;
  listener: FakeListener;
  members: Member[];
}

/** Members start up (checked: false) unless `checked` is set, when they start unknown. */
export function fakeService(
  name: string,
  addresses: Array<string | [string, Partial<MemberConfig>]>,
  opts: { checked?: boolean; config?: Partial<ServiceConfig> } = {},
): FakeService {
  const mcs = addresses.map((a) => (typeof a === 'string' ? memberConfig(a) : memberConfig(a[0], a[1])));
  const config = serviceConfig(name, mcs, opts.config);
  const members = mcs.map((mc) => new Member(mc, { checked: opts.checked ?? false, slowStart: config.slowStart }));
  const pool = new Pool(poolOptions(config, 0), members);
  return { name, config, pool, listener: new FakeListener(), members };
}

export function sessionRecord(service: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    service,
    protocol: 'tcp',
    client: '127.0.0.1:50000',
    member: undefined,
    bytesIn: 0,
    bytesOut: 0,
    durationMs: 12,
    end: 'client-closed',
    retries: 0,
    ...extra,
  };
}

/** One sample's value from Prometheus text, matched by name and exact label set; undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    const keys = Object.keys(labels);
    if (keys.length === Object.keys(found).length && keys.every((k) => found[k] === labels[k])) return Number(m[3]);
  }
  return undefined;
}

/**
 * One entry of `services`: its listener and admission, how it balances and
 * fails over, its check, and its members (listed, or discovered through DNS).
 * Keys that only make sense for the other protocol are errors, not silently ignored.
 */
import { formatEndpoint } from '../net/address.js';
import { isHostname, parseCidr, readListen, readMemberAddress } from './addresses.js';
import { Checker, Section, isMapping } from './checker.js';
import { defaults, limits } from './defaults.js';
import { defaultHealthCheck, readHealthCheck } from './health-check.js';
import type { DiscoveryConfig, MemberConfig, OutlierConfig, Protocol, ServiceConfig } from './types.js';

const BALANCE = ['roundrobin', 'leastconn', 'random2', 'maglev', 'first'] as const;
const HASH_KEYS = ['sourceIp', 'sourceIpPort'] as const;
const PROXY_VERSIONS = ['off', 'v1', 'v2'] as const;

const TCP_ONLY = [
  'connectTimeout',
  'retries',
  'maxConnections',
  'sendProxyProtocol',
  'acceptProxyProtocol',
  'firstByteTimeout',
  'replayOnSilence',
  'replayBufferSize',
] as const;
const UDP_ONLY = ['maxSessions', 'responsesPerSession', 'replyTimeout'] as const;

export const SERVICE_KEYS = [
  'name',
  'protocol',
  'listen',
  'balance',
  'hashKey',
  'idleTimeout',
  'allow',
  'deny',
  'onMemberDown',
  'drainTimeout',
  'slowStart',
  'failback',
  'onFailback',
  'allBackups',
  'panic',
  'healthCheck',
  'outlier',
  'members',
  'discovery',
  ...TCP_ONLY,
  ...UDP_ONLY,
] as const;

const MEMBER_KEYS = ['address', 'weight', 'backup', 'maxConnections'] as const;
const DISCOVERY_KEYS = ['dns', 'type', 'refresh', 'port', 'weight', 'resolver'] as const;
const OUTLIER_KEYS = ['consecutiveFailures', 'ejectTime', 'maxEjectTime', 'maxEjectedPercent'] as const;

/** Names appear in metric labels and admin URLs (`/services/NAME/...`), so they stay URL- and label-safe. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function readService(c: Checker, path: string, raw: unknown, index: number): ServiceConfig | undefined {
  if (!isMapping(raw)) {
    c.expected(path, 'a service: a mapping with name, listen and members', raw);
    return undefined;
  }
  const s = new Section(c, path, raw, SERVICE_KEYS);
  const d = defaults.service;

  let name = s.string('name', { nonEmpty: true });
  if (name === undefined && !s.has('name')) c.error(path, 'a service needs a `name`', { expected: 'name' });
  if (name !== undefined && !NAME.test(name)) {
    c.expected(s.at('name'), 'a name of letters, digits, "_", "." or "-" (up to 64, starting with a letter or digit)', name);
    name = undefined;
  }

  const protocol: Protocol = s.oneOf('protocol', ['tcp', 'udp'] as const) ?? d.protocol;
  const udp = protocol === 'udp';
  s.refuse(udp ? TCP_ONLY : UDP_ONLY, `applies only to ${udp ? 'tcp' : 'udp'} services (this one is ${protocol})`);

  const listenRaw = s.raw('listen');
  const listen = listenRaw !== undefined ? readListen(c, s.at('listen'), listenRaw) : undefined;
  if (!s.has('listen')) c.error(path, 'a service needs `listen`: the address to accept clients on, e.g. "0.0.0.0:6432"', { expected: 'listen' });

  const balance = s.oneOf('balance', BALANCE) ?? d.balance;
  const hashKey = s.oneOf('hashKey', HASH_KEYS) ?? d.hashKey;
  if (s.has('hashKey') && balance !== 'maglev') c.warn(s.at('hashKey'), `is used only by balance: maglev (this service uses ${balance})`, { at: 'key' });

  const idleTimeout = s.duration('idleTimeout', { positive: udp }) ?? (udp ? defaults.udp.idleTimeout : d.idleTimeout);
  const firstByteTimeout = s.duration('firstByteTimeout') ?? d.firstByteTimeout;
  const replayOnSilence = s.bool('replayOnSilence') ?? d.replayOnSilence;
  if (replayOnSilence && firstByteTimeout === 0 && !s.c.isBroken(s.at('firstByteTimeout'))) {
    c.error(s.at('replayOnSilence'), 'needs `firstByteTimeout` (how long a member may stay silent before the connection moves)', {
      expected: 'firstByteTimeout > 0',
    });
  }

  const healthCheck = s.has('healthCheck') ? readHealthCheck(c, s.at('healthCheck'), s.raw('healthCheck'), protocol) : defaultHealthCheck();
  const outlier = readOutlier(s);
  const { members, discovery } = readMembers(s);

  // Stand-ins for a missing name or listen keep the cross-service checks going; with errors no config is returned.
  const service: ServiceConfig = {
    name: name ?? `#${index}`,
    protocol,
    listen: listen ?? { host: '0.0.0.0', port: 0 },
    balance,
    hashKey,
    connectTimeout: s.duration('connectTimeout', { positive: true }) ?? d.connectTimeout,
    idleTimeout,
    retries: s.int('retries', limits.retries) ?? d.retries,
    maxConnections: s.int('maxConnections', { min: 0 }) ?? d.maxConnections,
    sendProxyProtocol: readProxyVersion(s) ?? d.sendProxyProtocol,
    acceptProxyProtocol: s.bool('acceptProxyProtocol') ?? d.acceptProxyProtocol,
    allow: readCidrs(s, 'allow') ?? [...d.allow],
    deny: readCidrs(s, 'deny') ?? [...d.deny],
    onMemberDown: s.oneOf('onMemberDown', ['close', 'keep'] as const) ?? d.onMemberDown,
    drainTimeout: s.duration('drainTimeout') ?? d.drainTimeout,
    slowStart: s.duration('slowStart') ?? d.slowStart,
    failback: s.oneOf('failback', ['auto', 'manual'] as const) ?? d.failback,
    onFailback: s.oneOf('onFailback', ['keep', 'close'] as const) ?? d.onFailback,
    allBackups: s.bool('allBackups') ?? d.allBackups,
    panic: s.bool('panic') ?? d.panic,
    firstByteTimeout,
    replayOnSilence,
    replayBufferSize: s.size('replayBufferSize', limits.replayBufferSize) ?? d.replayBufferSize,
    healthCheck,
    outlier,
    members,
    maxSessions: s.int('maxSessions', { min: 0 }) ?? defaults.udp.maxSessions,
    responsesPerSession: s.int('responsesPerSession', { min: 0 }) ?? defaults.udp.responsesPerSession,
    replyTimeout: s.duration('replyTimeout') ?? defaults.udp.replyTimeout,
  };
  if (discovery) service.discovery = discovery;
  s.finish();
  return service;
}

/** `sendProxyProtocol: false` reads as off, since YAML users write booleans for switches. */
function readProxyVersion(s: Section): ServiceConfig['sendProxyProtocol'] | undefined {
  if (s.obj['sendProxyProtocol'] === false && s.has('sendProxyProtocol')) {
    s.raw('sendProxyProtocol');
    return 'off';
  }
  return s.oneOf('sendProxyProtocol', PROXY_VERSIONS);
}

function readCidrs(s: Section, key: 'allow' | 'deny'): string[] | undefined {
  const list = s.list(key, { single: true });
  if (list === undefined) return undefined;
  const out: string[] = [];
  list.items.forEach((item, i) => {
    if (item === undefined) return;
    const cidr = typeof item === 'string' ? parseCidr(item) : undefined;
    if (cidr === undefined) s.c.expected(list.path(i), 'an IPv4 or IPv6 address or CIDR, e.g. "10.0.0.0/8" or "fd00::/8"', item);
    else out.push(cidr);
  });
  return out;
}

function readOutlier(s: Section): OutlierConfig {
  const d = defaults.outlier;
  const obj = s.mapping('outlier');
  if (obj === undefined) return { ...d };
  const o = new Section(s.c, s.at('outlier'), obj, OUTLIER_KEYS);
  const out: OutlierConfig = {
    consecutiveFailures: o.int('consecutiveFailures', { min: 0, max: 1000 }) ?? d.consecutiveFailures,
    ejectTime: o.duration('ejectTime', { positive: true }) ?? d.ejectTime,
    maxEjectTime: o.duration('maxEjectTime', { positive: true }) ?? d.maxEjectTime,
    maxEjectedPercent: o.int('maxEjectedPercent', { min: 0, max: 100 }) ?? d.maxEjectedPercent,
  };
  if (out.maxEjectTime < out.ejectTime) {
    if (o.has('maxEjectTime')) s.c.error(o.at('maxEjectTime'), 'is shorter than `ejectTime`; repeat ejections only get longer', { expected: 'maxEjectTime >= ejectTime' });
    else out.maxEjectTime = out.ejectTime;
  }
  o.finish();
  return out;
}

function readMembers(s: Section): { members: MemberConfig[]; discovery?: DiscoveryConfig } {
  const members: MemberConfig[] = [];
  const hasMembers = s.has('members');
  const hasDiscovery = s.has('discovery');
  if (hasMembers && hasDiscovery) {
    s.c.error(s.at('discovery'), 'give `members` or `discovery`, not both', { at: 'key' });
  } else if (!hasMembers && !hasDiscovery) {
    s.c.error(s.path, 'a service needs `members` (or `discovery` to find them in DNS)', { expected: 'members or discovery' });
  }
  const list = s.list('members');
  if (list) {
    if (list.items.length === 0) s.c.error(s.at('members'), 'needs at least one member', { expected: 'a list of members' });
    const firstAt = new Map<string, string>();
    list.items.forEach((item, i) => {
      if (item === undefined) return;
      const path = list.path(i);
      const member = readMember(s.c, path, item);
      if (member === undefined) return;
      const earlier = firstAt.get(member.id);
      if (earlier !== undefined) {
        s.c.error(path, `member ${member.id} is listed twice (first at ${s.c.where(earlier)})`);
        return;
      }
      firstAt.set(member.id, path);
      members.push(member);
    });
    if (members.length > 0 && members.every((m) => m.backup)) {
      s.c.warn(s.at('members'), 'every member is a backup; they take traffic as primaries would, one at a time unless allBackups is set');
    }
  }
  const discovery = hasDiscovery ? readDiscovery(s) : undefined;
  return discovery ? { members, discovery } : { members };
}

/** A member: `{ address, weight, backup, maxConnections }`, or just its address. */
function readMember(c: Checker, path: string, raw: unknown): MemberConfig | undefined {
  const d = defaults.member;
  if (typeof raw === 'string') {
    const address = readMemberAddress(c, path, raw);
    return address && { address, id: formatEndpoint(address), weight: d.weight, backup: d.backup, maxConnections: d.maxConnections };
  }
  if (!isMapping(raw)) {
    c.expected(path, 'a member: "host:port" or a mapping with `address`', raw);
    return undefined;
  }
  const m = new Section(c, path, raw, MEMBER_KEYS);
  if (!m.has('address')) c.error(path, 'a member needs an `address`', { expected: 'address' });
  const addressRaw = m.raw('address');
  const address = addressRaw !== undefined ? readMemberAddress(c, m.at('address'), addressRaw) : undefined;
  const weight = readWeight(m) ?? d.weight;
  const backup = m.bool('backup') ?? d.backup;
  const maxConnections = m.int('maxConnections', { min: 0 }) ?? d.maxConnections;
  m.finish();
  return address && { address, id: formatEndpoint(address), weight, backup, maxConnections };
}

/** Weights run 1..1000; a member that should take nothing new is drained through the admin API instead of weighted 0. */
function readWeight(s: Section): number | undefined {
  if (s.obj['weight'] === 0 && s.has('weight')) {
    s.raw('weight');
    s.c.error(s.at('weight'), `weight 0 is not allowed (1 to ${limits.weight.max}); use backup: true, or the admin drain/disable actions, to keep new connections off a member`, {
      expected: `an integer from 1 to ${limits.weight.max}`,
    });
    return undefined;
  }
  return s.int('weight', limits.weight);
}

function readDiscovery(s: Section): DiscoveryConfig | undefined {
  const obj = s.mapping('discovery');
  if (obj === undefined) return undefined;
  const d = defaults.discovery;
  const ds = new Section(s.c, s.at('discovery'), obj, DISCOVERY_KEYS);
  const dns = ds.string('dns', { nonEmpty: true });
  if (!ds.has('dns')) s.c.error(ds.path, 'discovery needs `dns`: the name to look up', { expected: 'dns' });
  if (dns !== undefined && !isHostname(dns)) s.c.expected(ds.at('dns'), 'a DNS name, e.g. "_pg._tcp.db.internal" or "db.internal"', dns);
  // `_service._proto.name` is how SRV names are written (RFC 2782), so that is the default for them.
  const type = ds.oneOf('type', ['A', 'AAAA', 'SRV'] as const) ?? (dns?.startsWith('_') ? 'SRV' : 'A');
  const port = ds.int('port', { min: 1, max: 65535 });
  if (type === 'SRV' && ds.has('port')) {
    s.c.error(ds.at('port'), 'SRV answers carry their own port; `port` applies to A and AAAA lookups', { at: 'key' });
  } else if (type !== 'SRV' && !ds.has('port')) {
    s.c.error(ds.path, `an ${type} lookup needs \`port\`: the members' port`, { expected: 'port' });
  }
  const out: DiscoveryConfig = {
    dns: dns ?? '',
    type,
    refresh: ds.duration('refresh', { positive: true }) ?? d.refresh,
    weight: readWeight(ds) ?? d.weight,
  };
  if (port !== undefined && type !== 'SRV') out.port = port;
  const resolverText = ds.string('resolver');
  if (resolverText !== undefined) {
    const resolver = readListen(s.c, ds.at('resolver'), resolverText);
    if (resolver !== undefined) out.resolver = resolver;
  }
  ds.finish();
  return out;
}


/**
 * From a parsed document to the resolved Config: the top-level keys, every
 * service, and the checks that span services (unique names, one listener per
 * socket). All problems are collected; a Config is returned only when there are none.
 */
import { availableParallelism } from 'node:os';
import { formatEndpoint, type Endpoint } from '../net/address.js';
import { listenersOverlap, readListen } from './addresses.js';
import { Checker, Section, isMapping } from './checker.js';
import { defaults, limits } from './defaults.js';
import { readService } from './service.js';
import type { AdminConfig, Config, LogLevel, ServiceConfig } from './types.js';
import { joinIndex } from './yaml.js';

const TOP_KEYS = ['log', 'workers', 'admin', 'services'] as const;
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function validateConfig(c: Checker, value: unknown): Config | undefined {
  if (value === undefined || value === null) {
    c.error('', 'the config is empty; expected a mapping with at least `services`', { expected: 'a mapping' });
    return undefined;
  }
  if (!isMapping(value)) {
    c.expected('', 'a mapping with `services` (and optionally `log`, `workers`, `admin`)', value);
    return undefined;
  }
  const s = new Section(c, '', value, TOP_KEYS);
  const log = readLog(s);
  const workers = readWorkers(s);
  const admin = readAdmin(s);
  const services = readServices(s);
  s.finish();
  checkListeners(c, services, admin);
  if (c.errors.length > 0) return undefined;
  const config: Config = { log, workers, services: services.map((x) => x.service) };
  if (admin) config.admin = admin;
  return config;
}

function readLog(top: Section): Config['log'] {
  const obj = top.mapping('log');
  const d = defaults.log;
  if (obj === undefined) return { ...d };
  const s = new Section(top.c, 'log', obj, ['level', 'access']);
  const log = { level: s.oneOf('level', LOG_LEVELS) ?? d.level, access: s.bool('access') ?? d.access };
  s.finish();
  return log;
}

function readWorkers(top: Section): number {
  const raw = top.raw('workers') ?? defaults.workers;
  if (raw === 'auto') return availableParallelism();
  if (!top.given('workers')) return typeof raw === 'number' ? raw : 1;
  if (typeof raw === 'number' || top.c.isExpanded('workers')) return top.int('workers', limits.workers) ?? 1;
  top.c.expected('workers', `auto or an integer from ${limits.workers.min} to ${limits.workers.max}`, raw);
  return 1;
}

/** `admin:` alone turns the admin API on at its default address; `admin: 127.0.0.1:9901` is short for `{ listen }`. */
function readAdmin(top: Section): AdminConfig | undefined {
  if (!top.has('admin')) return undefined;
  const raw = top.raw('admin');
  if (raw === undefined) return undefined;
  const obj = typeof raw === 'string' ? { listen: raw } : raw === null ? {} : raw;
  if (!isMapping(obj)) {
    top.c.expected('admin', 'a mapping with `listen` and `token`, or a listen address', raw);
    return undefined;
  }
  const s = new Section(top.c, 'admin', obj, ['listen', 'token']);
  const listenRaw = s.raw('listen');
  const listen = listenRaw !== undefined ? readListen(s.c, s.at('listen'), listenRaw) : undefined;
  const admin: AdminConfig = { listen: listen ?? { ...defaults.admin.listen } };
  const token = s.string('token', { nonEmpty: true });
  if (token !== undefined) admin.token = token;
  s.finish();
  return admin;
}

interface Placed {
  service: ServiceConfig;
  path: string;
}

function readServices(top: Section): Placed[] {
  const c = top.c;
  if (!top.has('services')) {
    c.error('', 'the config needs `services`: a list of at least one service', { expected: 'services' });
    return [];
  }
  const list = top.list('services');
  if (list === undefined) return [];
  if (list.items.length === 0) c.error('services', 'needs at least one service', { expected: 'a list of services' });
  const placed: Placed[] = [];
  const names = new Map<string, string>();
  list.items.forEach((item, i) => {
    if (item === undefined) return;
    const path = joinIndex('services', i);
    const service = readService(c, path, item, i);
    if (service === undefined) return;
    const nameGiven = isMapping(item) && typeof item['name'] === 'string' && service.name === item['name'];
    if (nameGiven) {
      const earlier = names.get(service.name);
      if (earlier !== undefined) {
        c.error(`${path}.name`, `service name "${service.name}" is already used by ${c.where(`${earlier}.name`)}`, {
          expected: 'a name no other service uses',
        });
      } else names.set(service.name, path);
    }
    placed.push({ service, path });
  });
  return placed;
}

/** Two listeners on one socket would fail at bind time, one after the other; refuse them here, naming both. */
function checkListeners(c: Checker, services: Placed[], admin: AdminConfig | undefined): void {
  const taken: { ep: Endpoint; protocol: string; owner: string; path: string }[] = [];
  if (admin) taken.push({ ep: admin.listen, protocol: 'tcp', owner: 'the admin API', path: 'admin.listen' });
  for (const { service, path } of services) {
    const at = `${path}.listen`;
    if (service.listen.port === 0) continue;
    const clash = taken.find((t) => t.protocol === service.protocol && listenersOverlap(t.ep, service.listen));
    if (clash) {
      c.error(at, `${formatEndpoint(service.listen)}/${service.protocol} overlaps ${formatEndpoint(clash.ep)}, where ${clash.owner} listens (${c.where(clash.path)})`, {
        expected: 'a listen address no other service or the admin API uses',
      });
      continue;
    }
    taken.push({ ep: service.listen, protocol: service.protocol, owner: `service "${service.name}"`, path: at });
  }
}

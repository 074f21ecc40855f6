/**
 * The `healthCheck` section: which probe, its timing, and what it sends and
 * expects. Keys that belong to another probe type are errors, so a typo'd type
 * (`type: tcp` with a `path`) does not silently check something else.
 */
import { Checker, Section, describe, isMapping } from './checker.js';
import { defaults } from './defaults.js';
import { suggest } from './suggest.js';
import type { Expectation, HealthCheckConfig, HealthCheckType, Protocol, SendExpectStep } from './types.js';
import { joinIndex } from './yaml.js';

const TCP_TYPES = ['tcp', 'send-expect', 'http', 'redis', 'postgres', 'mysql', 'agent'] as const;
const UDP_TYPES = ['dns', 'udp-send-expect'] as const;
const ALL_TYPES: readonly HealthCheckType[] = ['none', ...TCP_TYPES, ...UDP_TYPES];
const QUERY_TYPES = ['A', 'AAAA', 'SRV', 'TXT', 'NS', 'MX'] as const;

const TIMING_KEYS = ['interval', 'fastInterval', 'downInterval', 'timeout', 'rise', 'fall', 'jitter', 'port'] as const;
const STEP_KEYS = ['send', 'sendHex', 'expect', 'expectRegex', 'expectHex'] as const;

/** The keys each probe type takes besides `type` and the timing keys. */
const TYPE_KEYS: Record<HealthCheckType, readonly string[]> = {
  none: [],
  tcp: [],
  'send-expect': [...STEP_KEYS, 'steps'],
  'udp-send-expect': [...STEP_KEYS, 'steps'],
  http: ['path', 'host', 'expectStatus', 'expectBody', 'expectBodyRegex'],
  redis: ['user', 'password', 'role'],
  postgres: ['user', 'password', 'database', 'role'],
  mysql: ['user', 'password', 'database', 'role'],
  agent: ['agentSend'],
  dns: ['query', 'queryType'],
};
const ALL_KEYS = [...new Set(['type', ...TIMING_KEYS, ...Object.values(TYPE_KEYS).flat()])];

const ROLES: Partial<Record<HealthCheckType, readonly string[]>> = {
  redis: ['master', 'replica'],
  postgres: ['primary', 'standby'],
  mysql: ['primary', 'replica'],
};

/** A resolved check of `type` with every default; `none` (members count as up and are not probed) when a service has none. */
export function defaultHealthCheck(type: HealthCheckConfig['type'] = 'none'): HealthCheckConfig {
  const d = defaults.healthCheck;
  return {
    type,
    interval: d.interval,
    fastInterval: d.fastInterval,
    downInterval: d.downInterval,
    timeout: d.timeout,
    rise: d.rise,
    fall: d.fall,
    jitter: d.jitter,
    steps: [],
    path: d.path,
    expectStatus: [...d.expectStatus],
    query: d.query,
    queryType: d.queryType,
  };
}

export function readHealthCheck(c: Checker, path: string, raw: unknown, protocol: Protocol): HealthCheckConfig {
  const out = defaultHealthCheck();
  if (raw === undefined) return out;
  // `healthCheck: http` is short for `healthCheck: { type: http }`.
  const obj = typeof raw === 'string' ? { type: raw } : raw === null ? {} : raw;
  if (!isMapping(obj)) {
    c.expected(path, 'a mapping of health-check keys, or a type such as "tcp"', raw);
    return out;
  }
  const s = new Section(c, path, obj, ALL_KEYS);
  const allowed: readonly HealthCheckType[] = protocol === 'tcp' ? ['none', ...TCP_TYPES] : ['none', ...UDP_TYPES];
  let type: HealthCheckType | undefined;
  if (!s.has('type') && protocol === 'udp') {
    c.error(path, `a udp service's health check needs a \`type\`: ${UDP_TYPES.join(' | ')} | none`, {
      expected: allowed.join(' | '),
    });
  } else {
    type = s.has('type') ? s.oneOf('type', ALL_TYPES) : (defaults.healthCheck.type as HealthCheckType);
    if (type !== undefined && !allowed.includes(type)) {
      c.error(s.at('type'), `type ${type} checks ${protocol === 'tcp' ? 'udp' : 'tcp'} services; a ${protocol} service takes ${allowed.join(' | ')}`, {
        expected: allowed.join(' | '),
      });
      type = undefined;
    }
  }
  if (type === undefined) {
    // The type is wrong or missing (already reported); the other keys cannot be judged without it.
    for (const key of Object.keys(obj)) s.raw(key);
    return out;
  }
  out.type = type;
  if (type === 'none') {
    s.refuse(Object.keys(obj).filter((k) => k !== 'type' && ALL_KEYS.includes(k)), 'is ignored with type none', 'warn');
    s.finish();
    return out;
  }

  readTiming(s, out);
  const own = TYPE_KEYS[type];
  s.refuse(
    ALL_KEYS.filter((k) => k !== 'type' && !(TIMING_KEYS as readonly string[]).includes(k) && !own.includes(k)),
    `does not apply to type ${type}`,
  );

  switch (type) {
    case 'send-expect':
    case 'udp-send-expect':
      out.steps = readSteps(s, type);
      break;
    case 'http':
      readHttp(s, out);
      break;
    case 'redis':
    case 'postgres':
    case 'mysql':
      readDatabase(s, out, type);
      break;
    case 'agent':
      out.agentSend = s.string('agentSend');
      if (out.agentSend === undefined) delete out.agentSend;
      if (!s.has('port')) c.error(path, 'an agent check needs `port`: the port the agent listens on', { expected: 'a port from 1 to 65535' });
      break;
    case 'dns': {
      const query = s.string('query', { nonEmpty: true });
      if (query !== undefined) out.query = query;
      // Naming a query means a lookup of that name; the NS default only suits the root.
      out.queryType = s.oneOf('queryType', QUERY_TYPES) ?? (query !== undefined ? 'A' : defaults.healthCheck.queryType);
      break;
    }
    case 'tcp':
      break;
  }
  s.finish();
  return out;
}

function readTiming(s: Section, out: HealthCheckConfig): void {
  const d = defaults.healthCheck;
  out.interval = s.duration('interval', { positive: true }) ?? d.interval;
  // A short interval must not slow down while a member changes state.
  out.fastInterval = s.duration('fastInterval', { positive: true }) ?? Math.min(d.fastInterval, out.interval);
  out.downInterval = s.duration('downInterval', { positive: true }) ?? d.downInterval;
  out.timeout = s.duration('timeout', { positive: true }) ?? d.timeout;
  out.rise = s.int('rise', { min: 1, max: 100 }) ?? d.rise;
  out.fall = s.int('fall', { min: 1, max: 100 }) ?? d.fall;
  out.jitter = readJitter(s) ?? d.jitter;
  const port = s.int('port', { min: 1, max: 65535 });
  if (port !== undefined) out.port = port;

  if (s.has('fastInterval') && out.fastInterval > out.interval) {
    s.c.warn(s.at('fastInterval'), 'is longer than `interval`: checks slow down while a member changes state');
  }
  if (out.timeout > out.interval) {
    s.c.warn(s.at('timeout'), 'is longer than `interval`: a check may still be waiting when the next is due, so checks run further apart than the interval');
  }
}

/** `10%` or a fraction such as 0.1; resolved to the fraction. */
function readJitter(s: Section): number | undefined {
  const v = s.raw('jitter');
  if (v === undefined) return undefined;
  const expected = 'a percentage like "10%" or a fraction from 0 to 1';
  let fraction: number | undefined;
  if (typeof v === 'number') fraction = v;
  else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
    if (m) fraction = Number(m[1]) / 100;
    else if (s.c.isExpanded(s.at('jitter')) && /^\s*\d+(\.\d+)?\s*$/.test(v)) fraction = Number(v);
  }
  if (fraction === undefined || !(fraction >= 0 && fraction <= 1)) {
    const hint = typeof v === 'number' && v > 1 && v <= 100 ? `; for ${v} percent write "${v}%"` : '';
    s.c.error(s.at('jitter'), `expected ${expected}, got ${describe(v)}${hint}`, { expected });
    return undefined;
  }
  return fraction;
}

function readSteps(s: Section, type: 'send-expect' | 'udp-send-expect'): SendExpectStep[] {
  const inline = STEP_KEYS.filter((k) => s.has(k));
  let steps: SendExpectStep[] = [];
  if (s.has('steps')) {
    if (inline.length > 0) {
      s.refuse(inline, 'cannot be used with `steps`: put it in a step');
    }
    const list = s.list('steps');
    if (list) {
      list.items.forEach((item, i) => {
        if (item === undefined) return;
        const path = list.path(i);
        if (!isMapping(item)) {
          s.c.expected(path, `a step: a mapping with ${STEP_KEYS.join(', ')}`, item);
          return;
        }
        const stepSection = new Section(s.c, path, item, STEP_KEYS);
        const step = readStep(stepSection, 'a step needs `send`/`sendHex`, `expect`/`expectRegex`/`expectHex`, or both');
        stepSection.finish();
        if (step) steps.push(step);
      });
      if (list.items.length === 0) s.c.error(s.at('steps'), 'needs at least one step', { expected: 'a list of steps' });
    }
  } else {
    const step = readStep(s, 'a send-expect check needs something to send or expect: `send`/`sendHex`, `expect`/`expectRegex`/`expectHex`, or `steps`');
    if (step) steps = [step];
  }
  if (type === 'udp-send-expect' && steps.length > 0 && steps[0]!.send === undefined) {
    const where = s.has('steps') ? joinIndex(s.at('steps'), 0) : s.path;
    s.c.error(where, 'a udp-send-expect check must send first (`send` or `sendHex`): UDP servers speak only when spoken to', {
      expected: 'send or sendHex',
    });
  }
  return steps;
}

/** One send/expect step, read from a step's own mapping or inline from the check; `missing` is the error when it has neither. */
function readStep(s: Section, missing: string): SendExpectStep | undefined {
  const step: SendExpectStep = {};
  if (s.has('send') && s.has('sendHex')) {
    s.c.error(s.at('sendHex'), 'give `send` or `sendHex`, not both', { at: 'key' });
  }
  const send = s.string('send');
  if (send !== undefined) step.send = Buffer.from(send, 'utf8');
  const sendHex = readHex(s, 'sendHex');
  if (sendHex !== undefined && step.send === undefined) step.send = sendHex;

  const expectKeys = (['expect', 'expectRegex', 'expectHex'] as const).filter((k) => s.has(k));
  if (expectKeys.length > 1) {
    s.c.error(s.at(expectKeys[1]!), `give one of \`expect\`, \`expectRegex\`, \`expectHex\`, not ${expectKeys.map((k) => `\`${k}\``).join(' and ')}`, {
      at: 'key',
    });
  }
  const expect = readExpectation(s, 'expect', 'expectRegex', 'expectHex');
  if (expect !== undefined) step.expect = expect;
  if (step.send === undefined && step.expect === undefined) {
    // Present but invalid or misspelt keys are reported on their own; only their absence is reported here.
    const tried = Object.keys(s.obj).some((k) => (STEP_KEYS as readonly string[]).includes(k) || suggest(k, STEP_KEYS) !== undefined);
    if (!tried) s.c.error(s.path, missing, { expected: 'send or expect' });
    return undefined;
  }
  return step;
}

/** Reads whichever of a substring, regex or hex expectation is present (the first, if several). */
function readExpectation(s: Section, textKey: string, regexKey: string, hexKey: string | undefined): Expectation | undefined {
  const text = s.string(textKey);
  const regex = s.string(regexKey);
  const hex = hexKey !== undefined ? readHex(s, hexKey) : undefined;
  if (text !== undefined) return { kind: 'string', value: text };
  if (regex !== undefined) {
    try {
      return { kind: 'regex', value: new RegExp(regex) };
    } catch (err) {
      s.c.error(s.at(regexKey), `not a valid regular expression: ${(err as Error).message}`, { expected: 'a regular expression' });
      return undefined;
    }
  }
  if (hex !== undefined) return { kind: 'hex', value: hex };
  return undefined;
}

function readHex(s: Section, key: string): Buffer | undefined {
  const v = s.raw(key);
  if (v === undefined) return undefined;
  const expected = 'hex bytes like "0a1b2c" (spaces allowed)';
  const digits = typeof v === 'string' ? v.replace(/\s+/g, '') : '';
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(digits)) {
    s.c.expected(s.at(key), expected, v);
    return undefined;
  }
  return Buffer.from(digits, 'hex');
}

function readHttp(s: Section, out: HealthCheckConfig): void {
  const path = s.string('path', { nonEmpty: true });
  if (path !== undefined) {
    if (!path.startsWith('/') || /\s/.test(path)) s.c.expected(s.at('path'), 'a request path starting with "/", without spaces', path);
    else out.path = path;
  }
  const host = s.string('host', { nonEmpty: true });
  if (host !== undefined) out.host = host;
  const status = readStatusList(s);
  if (status !== undefined) out.expectStatus = status;
  if (s.has('expectBody') && s.has('expectBodyRegex')) {
    s.c.error(s.at('expectBodyRegex'), 'give `expectBody` or `expectBodyRegex`, not both', { at: 'key' });
  }
  const body = readExpectation(s, 'expectBody', 'expectBodyRegex', undefined);
  if (body !== undefined) out.expectBody = body;
}

/** 200, [200, 204], "200-399", "2xx", or a list mixing them; resolved to the sorted codes. */
function readStatusList(s: Section): number[] | undefined {
  const list = s.list('expectStatus', { single: true });
  if (list === undefined) return undefined;
  const expected = 'HTTP status codes: 200, [200, 204], "200-399" or "2xx"';
  const codes = new Set<number>();
  let ok = true;
  list.items.forEach((item, i) => {
    if (item === undefined) return;
    const range = statusRange(item);
    if (range === undefined) {
      s.c.expected(list.path(i), expected, item);
      ok = false;
      return;
    }
    for (let code = range[0]; code <= range[1]; code++) codes.add(code);
  });
  if (ok && codes.size === 0) s.c.expected(s.at('expectStatus'), expected, list.items);
  return ok && codes.size > 0 ? [...codes].sort((a, b) => a - b) : undefined;
}

function statusRange(item: unknown): [number, number] | undefined {
  const valid = (n: number) => Number.isInteger(n) && n >= 100 && n <= 599;
  if (typeof item === 'number') return valid(item) ? [item, item] : undefined;
  if (typeof item !== 'string') return undefined;
  const text = item.trim();
  let m = /^([1-5])xx$/i.exec(text);
  if (m) return [Number(m[1]) * 100, Number(m[1]) * 100 + 99];
  m = /^(\d{3})\s*-\s*(\d{3})$/.exec(text);
  if (m) {
    const lo = Number(m[1]);
    const hi = Number(m[2]);
    return valid(lo) && valid(hi) && lo <= hi ? [lo, hi] : undefined;
  }
  m = /^(\d{3})$/.exec(text);
  return m && valid(Number(m[1])) ? [Number(m[1]), Number(m[1])] : undefined;
}

function readDatabase(s: Section, out: HealthCheckConfig, type: 'redis' | 'postgres' | 'mysql'): void {
  const user = s.string('user', { nonEmpty: true }) ?? (type === 'postgres' ? defaults.healthCheck.postgresUser : undefined);
  if (user !== undefined) out.user = user;
  const password = s.string('password');
  if (password !== undefined) out.password = password;
  if (type !== 'redis') {
    const database = s.string('database', { nonEmpty: true });
    if (database !== undefined) out.database = database;
  }
  const role = s.oneOf('role', ROLES[type]!);
  if (role !== undefined) out.role = role;
  // Said at load time rather than as a check that fails forever.
  if (type === 'redis' && s.given('user') && !s.has('password')) {
    s.c.error(s.path, 'a redis check with `user` needs `password` too (AUTH user password)', { expected: 'password' });
  }
  if (type === 'mysql' && s.given('role') && !s.has('user')) {
    s.c.error(s.path, 'a mysql role check logs in to ask: it needs `user` (and `password` if the account has one)', { expected: 'user' });
  }
}

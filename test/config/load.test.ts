import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { defaults } from '../../src/config/defaults.js';
import { ConfigError, ConfigIssue, loadConfigFile, parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { SwitchyardError } from '../../src/errors.js';

const fixtures = fileURLToPath(new URL('../fixtures/config/', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (name: string) => join(fixtures, name);

function valid(text: string, env: NodeJS.ProcessEnv = {}): Config {
  const r = parseConfig(text, 'test.yaml', env);
  if (!r.config) throw new Error(r.errors.map(String).join('\n'));
  return r.config;
}

t.test('a minimal config resolves with every default', async (t) => {
  const config = await loadConfigFile(fixture('minimal.yaml'), {});
  t.same(config.log, { level: 'info', access: true });
  t.equal(config.workers, availableParallelism(), 'workers: auto = one per core');
  t.equal(config.admin, undefined, 'no admin API unless asked for');
  const s = config.services[0]!;
  const d = defaults.service;
  t.match(s, {
    name: 'web',
    protocol: 'tcp',
    listen: { host: '127.0.0.1', port: 8080 },
    balance: d.balance,
    hashKey: d.hashKey,
    connectTimeout: 2000,
    idleTimeout: 3_600_000,
    retries: 2,
    maxConnections: 10_000,
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
    replayBufferSize: 65_536,
    maxSessions: 10_000,
    responsesPerSession: 0,
    replyTimeout: 0,
  });
  t.equal(s.discovery, undefined);
  t.same(s.members, [{ address: { host: '127.0.0.1', port: 8081 }, id: '127.0.0.1:8081', weight: 100, backup: false, maxConnections: 0 }]);
  t.same(s.outlier, { consecutiveFailures: 5, ejectTime: 30_000, maxEjectTime: 300_000, maxEjectedPercent: 50 });
  t.match(s.healthCheck, { type: 'none', interval: 1000, fastInterval: 250, downInterval: 2000, timeout: 500, rise: 2, fall: 2, jitter: 0.1, steps: [] });
});

t.test('a full config resolves every key as written', async (t) => {
  const env = { ADMIN_TOKEN: 's3cret' };
  const warnings: ConfigIssue[] = [];
  const config = await loadConfigFile(fixture('full.yaml'), env, (w) => warnings.push(w));
  t.same(warnings, []);
  t.same(config.log, { level: 'debug', access: false });
  t.equal(config.workers, 3);
  t.same(config.admin, { listen: { host: '::1', port: 9902 }, token: 's3cret' });
  const [pg, dns] = config.services;
  t.same(pg, {
    name: 'pg',
    protocol: 'tcp',
    listen: { host: '0.0.0.0', port: 6432 },
    balance: 'maglev',
    hashKey: 'sourceIpPort',
    connectTimeout: 1500,
    idleTimeout: 600_000,
    retries: 4,
    maxConnections: 500,
    sendProxyProtocol: 'v2',
    acceptProxyProtocol: true,
    allow: ['10.0.0.0/8', '192.168.1.7/32', '2001:db8::/32'],
    deny: ['10.1.0.0/16'],
    onMemberDown: 'keep',
    drainTimeout: 60_000,
    slowStart: 20_000,
    failback: 'manual',
    onFailback: 'close',
    allBackups: true,
    panic: true,
    firstByteTimeout: 3000,
    replayOnSilence: true,
    replayBufferSize: 1_048_576,
    healthCheck: {
      type: 'postgres',
      interval: 5000,
      fastInterval: 500,
      downInterval: 10_000,
      timeout: 2000,
      rise: 3,
      fall: 4,
      jitter: 0.2,
      port: 5433,
      steps: [],
      path: '/',
      expectStatus: [200],
      user: 'checker',
      password: 'secret',
      database: 'app',
      role: 'standby',
      query: '.',
      queryType: 'NS',
    },
    outlier: { consecutiveFailures: 3, ejectTime: 10_000, maxEjectTime: 120_000, maxEjectedPercent: 30 },
    members: [
      { address: { host: '10.0.0.11', port: 5432 }, id: '10.0.0.11:5432', weight: 300, backup: false, maxConnections: 50 },
      { address: { host: 'db2.internal', port: 5432 }, id: 'db2.internal:5432', weight: 100, backup: false, maxConnections: 0 },
      { address: { host: '2001:db8::12', port: 5432 }, id: '[2001:db8::12]:5432', weight: 100, backup: true, maxConnections: 0 },
    ],
    maxSessions: 10_000,
    responsesPerSession: 0,
    replyTimeout: 0,
  });
  t.match(dns, {
    name: 'dns',
    protocol: 'udp',
    listen: { host: '::', port: 5353 },
    balance: 'random2',
    idleTimeout: 5000,
    maxSessions: 200,
    responsesPerSession: 1,
    replyTimeout: 1000,
    healthCheck: { type: 'dns', query: 'example.com', queryType: 'AAAA' },
    members: [],
    discovery: { dns: '_dns._udp.example.internal', type: 'SRV', refresh: 30_000, weight: 7 },
  });
  t.equal(dns!.discovery!.port, undefined);
});

t.test('config.example.yaml validates, without warnings, and shows every key', async (t) => {
  const text = readFileSync(join(repoRoot, 'config.example.yaml'), 'utf8');
  const r = parseConfig(text, 'config.example.yaml', {});
  t.same(r.errors.map(String), []);
  t.same(r.warnings.map(String), []);
  t.ok(r.config);
  // Every key validation knows appears in the example, set or commented.
  const { SERVICE_KEYS } = await import('../../src/config/service.js');
  for (const key of [...SERVICE_KEYS, 'token', 'workers', 'level', 'access', 'fastInterval', 'downInterval', 'jitter', 'sendHex',
    'expectHex', 'expectRegex', 'expectBody', 'expectStatus', 'queryType', 'agentSend', 'steps', 'consecutiveFailures',
    'maxEjectTime', 'maxEjectedPercent', 'refresh', 'backup', 'weight', 'database', 'role', 'port']) {
    t.match(text, new RegExp(`\\b${key}:`), `example mentions ${key}`);
  }
  // With the environment it names set, the values come through.
  const withEnv = parseConfig(text, 'config.example.yaml', { PG_LISTEN: '127.0.0.1:7432' });
  t.same(withEnv.config?.services[0]?.listen, { host: '127.0.0.1', port: 7432 });
});

t.test('the config in DESIGN.md validates', async (t) => {
  const r = parseConfig(readFileSync(fixture('design.yaml'), 'utf8'), 'design.yaml', { SWITCHYARD_ADMIN_TOKEN: 'x' });
  t.same(r.errors.map(String), []);
  t.same(r.config?.admin?.token, 'x');
  t.same(r.config?.services[0]?.members.map((m) => m.id), ['10.0.0.11:5432', '10.0.0.12:5432', '10.0.0.13:5432']);
});

t.test('every error is reported at once, in file order, each with file:line:col and path', async (t) => {
  const file = fixture('many-errors.yaml');
  const err = await loadConfigFile(file, {}).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, ConfigError);
  t.type(err, SwitchyardError);
  const e = err as ConfigError;
  t.equal(e.code, 'SWY_ERR_CONFIG_INVALID');
  const got = e.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
  t.same(got, [
    '2:10 log.level: expected fatal | error | warn | info | debug | trace | silent, got "loud"',
    '3:10 workers: expected auto or an integer from 1 to 1024, got "many"',
    '5:11 admin.listen: port 99999 is out of range; expected 0 to 65535',
    '9:5 services[0].connectTimeot: unknown key `connectTimeot`; did you mean `connectTimeout`?',
    '12:17 services[0].healthCheck.interval: expected a duration like "250ms" or "2s", got "fast"',
    '13:13 services[0].healthCheck.rise: expected an integer from 1 to 100, got 0',
    '15:9 services[0].members[0]: expected host:port or [v6]:port, e.g. "10.0.0.11:5432", "db1.internal:5432" or "[fd00::11]:5432", got "10.0.0.1"; the port is missing',
    '16:43 services[0].members[1].weight: expected an integer from 1 to 1000, got 5000',
    '17:11 services[1].name: service name "pg" is already used by services[0].name, line 7',
    '20:18 services[1].idleTimeout: environment variable ${NOT_SET_ANYWHERE} not set (give a default with ${NAME:-value})',
    '21:5 services[1].retries: `retries` applies only to tcp services (this one is udp)',
    '24:13 services[2].listen: 0.0.0.0:6432/tcp overlaps 0.0.0.0:6432, where service "pg" listens (services[0].listen, line 8)',
    '25:13 services[2].allow[0]: expected an IPv4 or IPv6 address or CIDR, e.g. "10.0.0.0/8" or "fd00::/8", got "10.0.0.0/33"',
    '26:14 services[2].members: needs at least one member',
  ]);
  t.ok(e.issues.every((i) => i.file === file));
  t.equal(e.issues.find((i) => i.path === 'services[1].idleTimeout')?.code, 'SWY_ERR_CONFIG_ENV');
  t.equal(e.issues.find((i) => i.path === 'services[0].healthCheck.interval')?.expected, 'a duration like "250ms" or "2s"');
  // The message lists them all, each as FILE:LINE:COL PATH: MESSAGE.
  t.match(e.message, /^the config is invalid \(14 problems\):\n/);
  t.match(e.message, `  ${file}:12:17 services[0].healthCheck.interval: expected a duration like "250ms" or "2s", got "fast"\n`);
  t.equal(e.message.split('\n').length, 15);
});

t.test('issues print as FILE:LINE:COL PATH: MESSAGE', async (t) => {
  const r = parseConfig('services:\n  - name: a\n    listen: 127.0.0.1:1\n    members: [a:1]\n    healthCheck: { interval: fast }\n', 'sw.yaml', {});
  t.same(r.errors.map(String), ['sw.yaml:5:30 services[0].healthCheck.interval: expected a duration like "250ms" or "2s", got "fast"']);
  t.equal(`${r.errors[0]}`, String(r.errors[0]), 'template literals and String() agree');
});

t.test('loadConfigFile: unreadable file, bad YAML, empty file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'swy-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const missing = join(dir, 'nope.yaml');
  const e1 = (await loadConfigFile(missing).catch((e: unknown) => e)) as ConfigError;
  t.type(e1, ConfigError);
  t.equal(e1.code, 'SWY_ERR_CONFIG_READ');
  t.equal(e1.issues[0]!.file, missing);
  t.match(e1.message, `${missing}: cannot read: no such file`);

  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'services:\n  - name: a\n    listen: [1, 2\n');
  const e2 = (await loadConfigFile(bad).catch((e: unknown) => e)) as ConfigError;
  t.equal(e2.code, 'SWY_ERR_CONFIG_YAML');
  t.equal(e2.issues.length, 1);
  t.equal(e2.issues[0]!.line, 4);
  t.match(String(e2.issues[0]), new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4:\\d+: `));

  const empty = join(dir, 'empty.yaml');
  await writeFile(empty, '# nothing here\n');
  const e3 = (await loadConfigFile(empty).catch((e: unknown) => e)) as ConfigError;
  t.equal(e3.code, 'SWY_ERR_CONFIG_INVALID');
  t.match(e3.issues[0]!.message, /empty/);

  const bom = join(dir, 'bom.yaml');
  await writeFile(bom, '\uFEFFservices:\n  - { name: a, listen: "127.0.0.1:1", members: [b:1] }\n');
  t.equal((await loadConfigFile(bom)).services[0]!.name, 'a', 'a byte-order mark is skipped');
});

t.test('the top level: wrong shapes and missing services', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['- a\n- b\n', '', /expected a mapping with `services`/],
    ['log: {}\n', '', /needs `services`/],
    ['services: []\n', 'services', /at least one service/],
    ['services: {}\n', 'services', /expected a list, got a mapping/],
    ['services: [1]\n', 'services[0]', /expected a service/],
    ['servces: []\n', 'servces', /did you mean `services`/],
    ['log: debug\nservices: [{name: a, listen: "127.0.0.1:1", members: [b:1]}]\n', 'log', /expected a mapping of keys, got "debug"/],
  ];
  for (const [text, path, message] of cases) {
    const r = parseConfig(text, 't.yaml', {});
    t.equal(r.config, undefined, text);
    t.ok(r.errors.some((e) => e.path === path && message.test(e.message)), `${JSON.stringify(text)}: ${r.errors.map(String).join(' | ')}`);
  }
});

t.test('admin: forms and defaults', async (t) => {
  const base = 'services: [{name: a, listen: "127.0.0.1:1", members: [b:1]}]\n';
  t.same(valid(`admin:\n${base}`).admin, { listen: { host: '127.0.0.1', port: 9901 } }, '`admin:` alone: loopback default');
  t.same(valid(`admin: {}\n${base}`).admin, { listen: { host: '127.0.0.1', port: 9901 } });
  t.same(valid(`admin: "[::1]:0"\n${base}`).admin, { listen: { host: '::1', port: 0 } }, 'a bare address; port 0 allowed');
  t.same(valid(`admin: { token: abc }\n${base}`).admin, { listen: { host: '127.0.0.1', port: 9901 }, token: 'abc' });
  const empty = parseConfig(`admin: { token: "" }\n${base}`, 't.yaml', {});
  t.match(empty.errors.map(String), [/admin\.token: must not be empty/]);
  const fromEnv = parseConfig(`admin: { token: "\${TOKEN}" }\n${base}`, 't.yaml', { TOKEN: '' });
  t.match(fromEnv.errors.map(String), [/admin\.token: must not be empty/], 'an empty variable is an empty token');
  const numeric = parseConfig(`admin: { token: 12345 }\n${base}`, 't.yaml', {});
  t.match(numeric.errors.map(String), [/admin\.token: expected a string, got 12345 \(quote it/]);
  const host = parseConfig(`admin: { listen: "admin.example:9901" }\n${base}`, 't.yaml', {});
  t.match(host.errors.map(String), [/admin\.listen: cannot listen on "admin\.example"/]);
});

t.test('workers', async (t) => {
  const base = 'services: [{name: a, listen: "127.0.0.1:1", members: [b:1]}]\n';
  t.equal(valid(`workers: 1\n${base}`).workers, 1);
  t.equal(valid(`workers: auto\n${base}`).workers, availableParallelism());
  t.equal(valid(`workers: \${W}\n${base}`, { W: '4' }).workers, 4, 'a number from the environment');
  for (const bad of ['0', '1.5', '2000', 'all']) {
    t.equal(parseConfig(`workers: ${bad}\n${base}`, 't.yaml', {}).errors[0]?.path, 'workers', bad);
  }
});

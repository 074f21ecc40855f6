import t from 'tap';
import { configFromArgs } from '../../src/config/args.js';
import { ConfigError } from '../../src/config/issues.js';
import { defaults } from '../../src/config/defaults.js';

t.test('drop-in mode: a tcp proxy with a tcp check by default', async (t) => {
  const c = configFromArgs({ listen: '127.0.0.1:8080', backends: ['127.0.0.1:9001', 'app.internal:9002'] });
  t.equal(c.services.length, 1);
  const s = c.services[0]!;
  t.match(s, { name: 'default', protocol: 'tcp', listen: { host: '127.0.0.1', port: 8080 }, balance: 'roundrobin' });
  t.same(s.members.map((m) => m.id), ['127.0.0.1:9001', 'app.internal:9002']);
  t.equal(s.healthCheck.type, 'tcp', 'a dead backend is noticed without being asked');
  t.equal(s.healthCheck.interval, defaults.healthCheck.interval);
  t.equal(c.admin, undefined);
});

t.test('drop-in mode: udp, balance, check, admin', async (t) => {
  const c = configFromArgs({ listen: '[::]:5353', backends: ['10.0.0.1:53'], udp: true, balance: 'random2', check: 'dns', admin: '127.0.0.1:0' });
  const s = c.services[0]!;
  t.match(s, { protocol: 'udp', balance: 'random2', idleTimeout: 30_000, healthCheck: { type: 'dns' } });
  t.same(c.admin, { listen: { host: '127.0.0.1', port: 0 } });
  t.equal(configFromArgs({ listen: '127.0.0.1:5353', backends: ['10.0.0.1:53'], udp: true }).services[0]!.healthCheck.type, 'none', 'udp has no generic probe');
  t.equal(configFromArgs({ listen: '127.0.0.1:1', backends: ['10.0.0.1:1'], check: 'none' }).services[0]!.healthCheck.type, 'none');
});

t.test('drop-in mode: every error at once, naming the flags', async (t) => {
  let err: unknown;
  try {
    configFromArgs({ listen: 'db.internal:80', backends: ['10.0.0.1:1', 'nope', '10.0.0.1:1'], balance: 'rr', check: 'dns', admin: '127.0.0.1:70000' });
  } catch (e) {
    err = e;
  }
  t.type(err, ConfigError);
  const e = err as ConfigError;
  t.equal(e.code, 'SWY_ERR_CONFIG_INVALID');
  t.same(e.issues.map(String), [
    '--listen: cannot listen on "db.internal": expected an IP address or localhost, not a name to resolve',
    '--backend: expected host:port or [v6]:port, e.g. "10.0.0.11:5432", "db1.internal:5432" or "[fd00::11]:5432", got "nope"; the port is missing',
    '--backend: member 10.0.0.1:1 is listed twice (first at --backend)',
    '--balance: expected roundrobin | leastconn | random2 | maglev | first, got "rr"',
    '--check: type dns checks udp services; a tcp service takes none | tcp | send-expect | http | redis | postgres | mysql | agent',
    '--admin: port 70000 is out of range; expected 0 to 65535',
  ], 'in the order of the flags');
  t.ok(e.issues.every((i) => i.line === 0 && i.file === ''));
  t.match(e.message, /^the config is invalid \(6 problems\):\n  --listen: cannot listen/);
});

t.test('drop-in mode: the same listener checks apply', async (t) => {
  t.throws(() => configFromArgs({ listen: '127.0.0.1:9901', backends: ['10.0.0.1:1'], admin: '0.0.0.0:9901' }), {
    message: /--listen: 127\.0\.0\.1:9901\/tcp overlaps 0\.0\.0\.0:9901, where the admin API listens \(--admin\)/,
  });
});

import { createServer } from 'node:net';
import t from 'tap';
import { probe } from '../../src/health/probes/postgres.js';
import { startScram } from '../../src/health/probes/scram-sha-256.js';
import type { HealthCheckConfig } from '../../src/config/types.js';
import { checkConfig, runProbe } from '../helpers/probe-check.js';
import { refusingPort } from '../helpers/backends.js';
import { startPostgres, startPostgresStandby, type RunningServer } from '../helpers/servers.js';

t.setTimeout(90_000);

const started = performance.now();
const primary = await startPostgres({
  hba: [
    'host all md5user 127.0.0.1/32 md5',
    'host all scramuser 127.0.0.1/32 scram-sha-256',
    'host all intluser 127.0.0.1/32 scram-sha-256',
    'host all plainuser 127.0.0.1/32 password',
    'host all rejected 127.0.0.1/32 reject',
    'host all postgres 127.0.0.1/32 trust',
    'host all all 127.0.0.1/32 scram-sha-256',
  ],
});
t.teardown(() => primary.stop());
// Passwords are stored the way each user's hba line will check them.
await primary.sql(`
  SET password_encryption = 'md5';
  CREATE ROLE md5user LOGIN PASSWORD 'md5 pass';
  SET password_encryption = 'scram-sha-256';
  CREATE ROLE scramuser LOGIN PASSWORD 'scram pass';
  CREATE ROLE plainuser LOGIN PASSWORD 'plain pass';
  CREATE ROLE intluser LOGIN PASSWORD E'p\\u00e4ss\\u00a0w\\u00f6rd';
`);
const standby = await startPostgresStandby(primary);
t.teardown(() => standby.stop());
const coldStandby = await startPostgresStandby(primary, { hotStandby: false });
t.teardown(() => coldStandby.stop());
t.comment(`primary + 2 standbys ready in ${Math.round(performance.now() - started)}ms`);

const at = (s: RunningServer) => ({ host: s.host, port: s.port });
const pg = (overrides: Partial<HealthCheckConfig>) => checkConfig('postgres', overrides);

const cases: Array<{ name: string; server: RunningServer; check: Partial<HealthCheckConfig>; ok: boolean; detail: RegExp }> = [
  // Liveness: no password, no role.
  { name: 'liveness: trusted default user gets a session', server: primary, check: {}, ok: true, detail: /^ready, PostgreSQL \d+/ },
  { name: 'liveness: a SCRAM challenge proves a live server', server: primary, check: { user: 'scramuser' }, ok: true, detail: /^authentication requested \(SASL\)$/ },
  { name: 'liveness: an md5 challenge proves a live server', server: primary, check: { user: 'md5user' }, ok: true, detail: /^authentication requested \(md5\)$/ },
  { name: 'liveness: an unknown user still gets a challenge', server: primary, check: { user: 'switchyard' }, ok: true, detail: /^authentication requested/ },
  { name: 'liveness: a pg_hba reject (28000) proves a live server', server: primary, check: { user: 'rejected' }, ok: true, detail: /^FATAL 28000: pg_hba.conf rejects connection/ },
  { name: 'liveness: a missing database (3D000) proves a live server', server: primary, check: { database: 'nosuchdb' }, ok: true, detail: /^FATAL 3D000: database "nosuchdb" does not exist/ },
  { name: 'liveness: a standby refusing connections (57P03) fails', server: coldStandby, check: {}, ok: false, detail: /^FATAL 57P03: the database system is not accepting connections/ },
  // Logins.
  { name: 'md5 login', server: primary, check: { user: 'md5user', password: 'md5 pass' }, ok: true, detail: /^ready, PostgreSQL \d+/ },
  { name: 'md5 login, wrong password', server: primary, check: { user: 'md5user', password: 'nope' }, ok: false, detail: /^FATAL 28P01: password authentication failed for user "md5user"/ },
  { name: 'SCRAM-SHA-256 login', server: primary, check: { user: 'scramuser', password: 'scram pass' }, ok: true, detail: /^ready, PostgreSQL \d+/ },
  { name: 'SCRAM-SHA-256 login, wrong password', server: primary, check: { user: 'scramuser', password: 'nope' }, ok: false, detail: /^FATAL 28P01: password authentication failed for user "scramuser"/ },
  { name: 'SCRAM-SHA-256 login, non-ASCII password (SASLprep)', server: primary, check: { user: 'intluser', password: 'p\u00e4ss\u00a0w\u00f6rd' }, ok: true, detail: /^ready/ },
  { name: 'cleartext password login', server: primary, check: { user: 'plainuser', password: 'plain pass' }, ok: true, detail: /^ready/ },
  { name: 'login to a missing database fails', server: primary, check: { user: 'scramuser', password: 'scram pass', database: 'nosuchdb' }, ok: false, detail: /^FATAL 3D000/ },
  { name: 'role without a password where one is asked', server: primary, check: { user: 'scramuser', role: 'primary' }, ok: false, detail: /asks for a password/ },
  // Roles.
  { name: 'role primary on the primary', server: primary, check: { user: 'scramuser', password: 'scram pass', role: 'primary' }, ok: true, detail: /^ready, PostgreSQL [\d.]+.*, primary$/ },
  { name: 'role standby on the primary', server: primary, check: { user: 'scramuser', password: 'scram pass', role: 'standby' }, ok: false, detail: /, primary, want standby$/ },
  { name: 'role standby on the standby', server: standby, check: { user: 'scramuser', password: 'scram pass', role: 'standby' }, ok: true, detail: /, standby \(in recovery\)$/ },
  { name: 'role primary on the standby', server: standby, check: { user: 'md5user', password: 'md5 pass', role: 'primary' }, ok: false, detail: /standby \(in recovery\), want primary$/ },
  { name: 'role with a trusted user and no password', server: primary, check: { role: 'primary' }, ok: true, detail: /, primary$/ },
  { name: 'unknown role', server: primary, check: { role: 'leader' }, ok: false, detail: /unknown postgres role "leader"/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = await runProbe(probe, at(c.server), pg(c.check));
    t.equal(r.ok, c.ok, r.detail);
    t.match(r.detail, c.detail);
  });
}

t.test('checks end their sessions: no backend is left behind', async (t) => {
  for (let i = 0; i < 5; i++) {
    const r = await runProbe(probe, at(primary), pg({ user: 'scramuser', password: 'scram pass', role: 'primary' }));
    t.equal(r.ok, true, r.detail);
  }
  // Terminate is sent and the server closes; allow the backends a moment to exit.
  const deadline = Date.now() + 5000;
  let left = '';
  while (Date.now() < deadline) {
    left = (await primary.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'switchyard-health'")).trim();
    if (left === '0') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(left, '0');
});

t.test('a refused port fails at once', async (t) => {
  const { port } = await refusingPort(t);
  const r = await runProbe(probe, { host: '127.0.0.1', port }, pg({}));
  t.same({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'connection refused' });
});

t.test('a silent server: the probe settles when the signal aborts', async (t) => {
  const silent = createServer((s) => s.resume());
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const port = (silent.address() as { port: number }).port;
  const r = await runProbe(probe, { host: '127.0.0.1', port }, pg({ password: 'x' }), 200);
  t.same({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'timeout after 200ms waiting for authentication' });
  t.ok(r.elapsed < 1500, `settled in ${r.elapsed}ms`);
});

t.test('something that is not PostgreSQL fails with what it said', async (t) => {
  const other = createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.teardown(() => other.close());
  const port = (other.address() as { port: number }).port;
  const r = await runProbe(probe, { host: '127.0.0.1', port }, pg({}));
  t.equal(r.ok, false);
  t.match(r.detail, /^not a PostgreSQL reply \(authentication\): "HTTP\/1.1 400/);
});

t.test('SCRAM-SHA-256 follows RFC 7677 (its test vector) and rejects a forged server signature', async (t) => {
  const scram = startScram('pencil', 'user', 'rOprNGfwEbeRWgbNEkqO');
  t.equal(scram.clientFirst, 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  const final = await scram.clientFinal('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
  t.equal(final, 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  t.equal(scram.verifyServerFinal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='), true);
  t.equal(scram.verifyServerFinal('v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='), false);
  t.equal(scram.verifyServerFinal('e=other-error'), false);
});

t.test('SCRAM refuses a server nonce that does not extend ours, and absurd iteration counts', async (t) => {
  const scram = startScram('pencil', '', 'abc');
  await t.rejects(scram.clientFinal('r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'), /nonce/);
  await t.rejects(scram.clientFinal('r=abc123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100000000'), /iteration count/);
  await t.rejects(scram.clientFinal('garbage'), /malformed/);
});

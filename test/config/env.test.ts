import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { expandEnv } from '../../src/config/env.js';
import { ConfigError, loadConfigFile } from '../../src/config/load.js';
import { config, oneService, parse, position, show } from './helpers.js';

t.test('expandEnv', async (t) => {
  const env = { HOST: '10.0.0.1', PORT: '5432', EMPTY: '' };
  const ok: [string, string][] = [
    ['plain', 'plain'],
    ['${HOST}', '10.0.0.1'],
    ['${HOST}:${PORT}', '10.0.0.1:5432'],
    ['${MISSING:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'],
    ['${HOST:-fallback}', '10.0.0.1'],
    ['${MISSING:-}', ''],
    ['${MISSING:-a:-b}', 'a:-b'],
    ['$${HOST}', '${HOST}'],
    ['$HOST', '$HOST'],
    ['cost: $5', 'cost: $5'],
    ['${EMPTY}', ''],
  ];
  for (const [input, want] of ok) {
    const r = expandEnv(input, env);
    t.same(r.ok && r.value, want, input);
  }
  const missing = expandEnv('${A}-${HOST}-${B}', env);
  t.same(missing, { ok: false, message: 'environment variables ${A}, ${B} not set (give a default with ${NAME:-value})', missing: ['A', 'B'] });
  for (const bad of ['${}', '${1X}', '${A B}', 'x${HOST', '${HOST:+x}']) {
    const r = expandEnv(bad, env);
    t.equal(r.ok, false, bad);
    t.same(!r.ok && r.missing, [], `${bad} is malformed, not missing`);
  }
});

t.test('${VAR} expands in any string value, with defaults', async (t) => {
  const text = oneService('listen: ${LISTEN}\nmembers: ["${DB_HOST}:5432", "${OTHER:-10.0.0.9}:5432"]\nhealthCheck: { type: postgres, password: "${PW}" }');
  const c = config(text, { LISTEN: '127.0.0.1:6432', DB_HOST: 'db1.internal', PW: 'p@ss' });
  const s = c.services[0]!;
  t.same(s.listen, { host: '127.0.0.1', port: 6432 });
  t.same(s.members.map((m) => m.id), ['db1.internal:5432', '10.0.0.9:5432']);
  t.equal(s.healthCheck.password, 'p@ss');
});

t.test('numbers and booleans may come from the environment', async (t) => {
  const text = oneService('retries: ${RETRIES}\npanic: ${PANIC}\nhealthCheck: { rise: "${RISE}", jitter: "${JITTER}" }');
  const s = config(text, { RETRIES: '5', PANIC: 'true', RISE: '3', JITTER: '0.2' }).services[0]!;
  t.equal(s.retries, 5);
  t.equal(s.panic, true);
  t.equal(s.healthCheck.rise, 3);
  t.equal(s.healthCheck.jitter, 0.2);
  // Written as a string in the file itself, a number stays a string.
  t.match(show(parse(oneService('retries: "5"')).errors), /services\[0\]\.retries: expected an integer from 0 to 100, got "5"/);
  t.match(show(parse(oneService('retries: ${R}'), { R: 'five' }).errors), /services\[0\]\.retries: expected an integer from 0 to 100, got "five"/);
});

t.test('keys are not expanded', async (t) => {
  const r = parse(oneService('${KEY}: 1'), { KEY: 'retries' });
  t.match(show(r.errors), /unknown key `\$\{KEY\}`/);
});

t.test('a missing variable is an error naming it, at its line, once', async (t) => {
  const text = oneService('listen: ${LISTEN_ADDR}\nmembers: ["${DB}:1", "${DB}:2"]');
  const r = parse(text, {});
  t.same(r.errors.map((e) => [e.path, e.line, e.column, e.code]), [
    ['services[0].listen', ...Object.values(position(text, '${LISTEN_ADDR}')), 'SWY_ERR_CONFIG_ENV'],
    ['services[0].members[0]', ...Object.values(position(text, '"${DB}:1"')), 'SWY_ERR_CONFIG_ENV'],
    ['services[0].members[1]', ...Object.values(position(text, '"${DB}:2"')), 'SWY_ERR_CONFIG_ENV'],
  ]);
  t.match(r.errors[0]!.message, 'environment variable ${LISTEN_ADDR} not set');
  // The unexpanded text is not judged again as an address.
  t.notOk(r.errors.some((e) => /expected host:port/.test(e.message)));
});

t.test('a file whose only problems are unset variables: SWY_ERR_CONFIG_ENV', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'swy-env-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  await writeFile(file, 'admin: { token: "${SWY_TEST_UNSET_TOKEN}" }\n' + oneService(''));
  const err = (await loadConfigFile(file, {}).catch((e: unknown) => e)) as ConfigError;
  t.type(err, ConfigError);
  t.equal(err.code, 'SWY_ERR_CONFIG_ENV');
  t.match(err.message, /^the config names environment variables that are not set \(1 problem\):\n/);
  t.match(err.message, `${file}:1:17 admin.token: environment variable \${SWY_TEST_UNSET_TOKEN} not set`);
  const loaded = await loadConfigFile(file, { SWY_TEST_UNSET_TOKEN: 'tok' });
  t.equal(loaded.admin?.token, 'tok');

  await writeFile(file, 'admin: { token: "${SWY_TEST_UNSET_TOKEN}" }\n' + oneService('retries: many'));
  const mixed = (await loadConfigFile(file, {}).catch((e: unknown) => e)) as ConfigError;
  t.equal(mixed.code, 'SWY_ERR_CONFIG_INVALID', 'with other problems too, the file is invalid');
  t.equal(mixed.issues.length, 2);
});

t.test('a malformed reference is an error too', async (t) => {
  const r = parse(oneService('listen: "${LISTEN"'));
  t.match(show(r.errors), /services\[0\]\.listen: an unclosed "\$\{"; write "\$\$\{" for a literal "\$\{"/);
  t.equal(r.errors[0]!.code, 'SWY_ERR_CONFIG_INVALID');
});

t.test('aliases: each use expanded on its own; $${ escapes; self-reference refused; alias bombs bounded', async (t) => {
  const text = `services:
  - name: a
    listen: 127.0.0.1:7000
    members: [&addr "\${H}:1"]
    healthCheck: { type: http, path: "/$\${x}" }
  - name: b
    listen: 127.0.0.1:7001
    members: [*addr]
`;
  const c = config(text, { H: '10.0.0.1', x: 'no' });
  t.same(c.services.map((s) => s.members[0]!.id), ['10.0.0.1:1', '10.0.0.1:1']);
  t.equal(c.services[0]!.healthCheck.path, '/${x}', '$${ is a literal ${, not expanded');

  const loop = parse('services: &s [*s]\n');
  t.match(show(loop.errors), /^1:15 services\[0\]: an alias here refers to a node that contains it/);

  const bombs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 7; i++) bombs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
  const started = Date.now();
  const bomb = parse(`${bombs.join('\n')}\n`);
  t.match(show(bomb.errors), /more than 100000 values once aliases are expanded/);
  t.ok(Date.now() - started < 5000, 'refused quickly');
});

// The command line as users run it: a real child process of dist/cli.js.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { echoServer } from './helpers/backends.js';
import { exchange } from './helpers/balancer.js';
import { cliPath as cli, configDir, listenPort, runCli as run, START_MS } from './helpers/cli.js';

t.setTimeout(60_000);
const file = configDir(t);
t.test('check: exit 0 for a good file, 1 with file:line and key path for a bad one', async (t) => {
  const good = file('good.yaml', 'services:\n  - name: a\n    listen: 127.0.0.1:0\n    members: [127.0.0.1:1]\n');
  const ok = spawnSync(process.execPath, [cli, 'check', '-c', good], { encoding: 'utf8' });
  t.equal(ok.status, 0, ok.stderr);
  const bad = file('bad.yaml', 'services:\n  - name: a\n    listen: 127.0.0.1:99999\n    balanse: leastconn\n    members: [127.0.0.1:1]\n');
  const res = spawnSync(process.execPath, [cli, 'check', '-c', bad], { encoding: 'utf8' });
  t.equal(res.status, 1);
  t.match(res.stderr, /bad\.yaml:3:\d+ .*services\[0\]\.listen/);
  t.match(res.stderr, /bad\.yaml:4:\d+ .*balanse.*balance/, 'an unknown key suggests the nearest known one');
});

t.test('quick mode proxies with no file; SIGTERM drains open connections and exits 0', async (t) => {
  const backend = await echoServer();
  t.teardown(() => backend.close());
  const p = run(t, ['--listen', '127.0.0.1:0', '--backend', backend.address, '--backend', backend.address.replace(/\d+$/, '1')]);
  const port = listenPort(await p.waitFor((l) => l['msg'] === 'listening', START_MS));
  const r = await exchange(port, 'hello\n');
  t.ok(r.ok, 'an exchange through the quick-mode proxy works');
  // A connection open when SIGTERM arrives may finish its work.
  const open = connect({ port, host: '127.0.0.1' });
  await once(open, 'connect');
  await backend.waitForAccepted(2);
  const exited = once(p.child, 'exit');
  p.child.kill('SIGTERM');
  await p.waitFor((l) => l['msg'] === 'stopping');
  const refused = await exchange(port, 'late\n', 2000);
  t.notOk(refused.ok, 'new connections are refused once stopping');
  open.write('still here\n');
  const [echo] = (await once(open, 'data')) as [Buffer];
  t.equal(echo.toString(), 'still here\n', 'the open connection still works while draining');
  open.end();
  const [code] = (await exited) as [number];
  t.equal(code, 0, 'exits 0 once drained');
});

t.test('SIGHUP reloads the file; a bad file is refused and the running config stays', async (t) => {
  const one = await echoServer();
  const two = await echoServer();
  t.teardown(() => Promise.all([one.close(), two.close()]));
  const yaml = (members: string[]) =>
    `log: { level: info }\nworkers: 2\nservices:\n  - name: svc\n    listen: 127.0.0.1:0\n    members: [${members.join(', ')}]\n`;
  const cfg = file('reload.yaml', yaml([one.address]));
  const p = run(t, ['-c', cfg]);
  const port = listenPort(await p.waitFor((l) => l['msg'] === 'listening', START_MS));
  t.ok((await exchange(port, 'a\n')).ok);
  writeFileSync(cfg, 'services:\n  - name: svc\n    listen: nowhere\n');
  p.child.kill('SIGHUP');
  const refused = await p.waitFor((l) => String(l['msg']).startsWith('reload refused'));
  t.match(JSON.stringify(refused['errors']), /reload\.yaml:3/, 'the refusal names the file and line');
  t.ok((await exchange(port, 'b\n')).ok, 'still serving on the old config');
  // Reload with the listener at the same address: the config file says port 0, so name the bound port.
  writeFileSync(cfg, yaml([two.address]).replace('127.0.0.1:0', `127.0.0.1:${port}`));
  p.child.kill('SIGHUP');
  const reloaded = await p.waitFor((l) => l['msg'] === 'config reloaded');
  t.equal(reloaded['pid'], p.child.pid, 'announced by the primary, once every worker has applied it');
  const before = two.accepted;
  t.ok((await exchange(port, 'c\n')).ok, 'serving after the reload');
  t.equal(two.accepted, before + 1, 'the new member took the connection');
});

// `workers: 2` and reload: a new config reaches every worker, also one still booting after a
// restart; one the workers cannot apply is refused and the running config stays.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { childBackends } from '../helpers/child-backend.js';
import { http, START_MS, startCli, statusMembers, until } from '../helpers/cli.js';
import { access, config, getUntil, memberId, workerPids } from '../helpers/workers.js';

t.setTimeout(90_000);

t.test('a reload reaches every worker; one the workers cannot apply is refused and the running config stays', async (t) => {
  const [a, b] = await childBackends(t, 'a', 'b');
  const r = await startCli(t, config([a]));
  await until('member a up', 5_000, async () => (await statusMembers(r.admin)).every((m) => m.state === 'up'));
  const reloads = (msg: string) => r.lines.filter((l) => l.msg === msg).length;
  const workers = await workerPids(r);

  // Adds member b; the listener keeps the port it got, so it stays bound in both workers.
  writeFileSync(r.file, config([a, b], r.port));
  r.child.kill('SIGHUP');
  await until('the reload', 15_000, () => reloads('config reloaded') === 1);
  await until('member b up', 5_000, async () => (await statusMembers(r.admin)).find((m) => m.id === memberId(b))?.state === 'up');
  const servedB = () => new Set(access(r).filter((l) => l.member === memberId(b)).map((l) => Number(l.pid)));
  await getUntil(r, 400, () => servedB().size === 2);
  await until('both workers sent connections to b', 2_000, () => servedB().size === 2);
  t.same([...servedB()].sort(), [...workers].sort(), 'the same two workers serve the new member');

  // A second service on a port another socket holds: no worker can bind it.
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const taken = (blocker.address() as AddressInfo).port;
  writeFileSync(
    r.file,
    config(
      [b],
      r.port,
      `  - name: extra
    listen: 127.0.0.1:${taken}
    healthCheck: { type: none }
    members: [ "${memberId(a)}" ]
`,
    ),
  );
  r.child.kill('SIGHUP');
  await until('the refusal', 15_000, () => reloads('reload refused; the running config stays') === 1);
  const refused = r.lines.find((l) => l.msg === 'reload refused; the running config stays')!;
  t.match(JSON.stringify(refused.errors), /EADDRINUSE/, 'the error names the taken port');
  t.equal(reloads('config reloaded'), 1, 'no second reload was announced');
  const status = JSON.parse((await http('GET', `http://${r.admin}/status`)).body) as { services: Array<{ name: string; members: Array<{ id: string }> }> };
  t.same(
    status.services.map((s) => s.name),
    ['web'],
    'the primary kept the running config',
  );
  t.same(status.services[0]!.members.map((m) => m.id).sort(), [memberId(a), memberId(b)].sort(), 'with both members');

  // Both workers still serve the running config: a, which the refused file dropped, is still served.
  const since = access(r).length;
  const servedA = () => new Set(access(r).slice(since).filter((l) => l.member === memberId(a)).map((l) => Number(l.pid)));
  const bodies = await getUntil(r, 400, () => servedA().size === 2);
  await until('both workers still send connections to a', 2_000, () => servedA().size === 2);
  t.ok(bodies.every((body) => body === 'ok a' || body === 'ok b'), bodies.join(','));
  t.ok(workers.every((pid) => servedA().has(pid)), 'by the same two workers');
});

t.test('a reload while a worker restarts reaches the new worker too', async (t) => {
  const [a, b] = await childBackends(t, 'a', 'b');
  const r = await startCli(t, config([a]));
  await until('member a up', 5_000, async () => (await statusMembers(r.admin)).every((m) => m.state === 'up'));
  const [victim] = await workerPids(r);

  process.kill(victim!, 'SIGKILL');
  const forked = await r.waitFor((l) => l.msg === 'worker forked; sending it the config', START_MS);
  // While the new worker boots: a reload that replaces member a by b.
  writeFileSync(r.file, config([b], r.port));
  r.child.kill('SIGHUP');
  await r.waitFor((l) => l.msg === 'config reloaded', 15_000);
  await r.waitFor((l) => l.msg === 'worker restarted', 15_000);
  t.equal(r.lines.find((l) => l.msg === 'worker restarted')?.worker, forked.worker);

  const since = access(r).length;
  const after = () => access(r).slice(since);
  const bodies = await getUntil(r, 400, () => new Set(after().map((l) => l.pid)).size === 2 && after().length >= 20);
  await until('access lines from both workers', 2_000, () => new Set(after().map((l) => l.pid)).size === 2);
  t.same([...new Set(bodies)], ['ok b'], 'every connection went to b');
  t.ok(after().some((l) => l.pid === forked.worker), 'the new worker among them');
});

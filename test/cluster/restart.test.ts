// `workers: 2` over a worker's life: one that dies is restarted and serves by the primary's member
// states from its first connection; a reload reaches every worker, and one they cannot apply is refused.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { childBackends, startChildBackend, type ChildBackend } from '../helpers/child-backend.js';
import { http, startCli, statusMembers, until, type Line, type StartedCli } from '../helpers/cli.js';

t.setTimeout(90_000);

function config(members: ChildBackend[], port = 0, extra = ''): string {
  return `workers: 2
admin: 127.0.0.1:0
log: { access: true }
services:
  - name: web
    listen: 127.0.0.1:${port}
    drainTimeout: 2s
    healthCheck: { type: tcp, interval: 200ms, fall: 2, rise: 1, timeout: 500ms }
    members:
${members.map((m) => `      - 127.0.0.1:${m.port}`).join('\n')}
${extra}`;
}

const access = (r: StartedCli): Line[] => r.lines.filter((l) => l.msg === 'access');
const memberId = (b: ChildBackend) => `127.0.0.1:${b.port}`;

/** New connections until `enough` holds (bounded by `max`): one GET each, the bodies name the members. */
async function getUntil(r: StartedCli, max: number, enough: () => boolean): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < max && !enough(); i++) bodies.push((await http('GET', `http://127.0.0.1:${r.port}/`)).body.trim());
  return bodies;
}

/** The workers' PIDs, from their access lines. */
async function workerPids(r: StartedCli): Promise<number[]> {
  const pids = () => new Set(access(r).map((l) => Number(l.pid)));
  await getUntil(r, 400, () => pids().size === 2);
  await until('access lines from both workers', 2_000, () => pids().size === 2);
  return [...pids()];
}

interface Outcome {
  at: number;
  body?: string;
  error?: string;
}

/** `loops` clients, each opening one connection after another, until stop() (bounded at 20 s). */
function load(r: StartedCli, loops: number): { outcomes: Outcome[]; stop(): Promise<void> } {
  const outcomes: Outcome[] = [];
  let running = true;
  const end = Date.now() + 20_000;
  const loop = async () => {
    while (running && Date.now() < end) {
      const at = Date.now();
      try {
        outcomes.push({ at, body: (await http('GET', `http://127.0.0.1:${r.port}/`)).body.trim() });
      } catch (err) {
        outcomes.push({ at, error: (err as Error).message });
      }
    }
  };
  const all = Promise.all(Array.from({ length: loops }, loop));
  return {
    outcomes,
    stop: async () => {
      running = false;
      await all;
    },
  };
}

t.test('a killed worker is restarted, and routes by the primary member states from its first connection', async (t) => {
  const [a, b] = await childBackends(t, 'a', 'b');
  const r = await startCli(t, config([a, b]));
  await until('members up', 5_000, async () => (await statusMembers(r.admin)).every((m) => m.state === 'up'));
  const disable = await http('POST', `http://${r.admin}/services/web/members/${memberId(a)}/disable`);
  t.equal(disable.status, 200, disable.body);
  const [victim, survivor] = await workerPids(r);
  const before = access(r).length;

  const traffic = load(r, 16);
  process.kill(victim!, 'SIGKILL');
  const restarted = await r.waitFor((l) => l.msg === 'worker restarted', 10_000);
  const restartedSeenAt = Date.now();
  const fresh = Number(restarted.worker);
  t.ok(Number.isInteger(fresh) && fresh !== victim && fresh !== survivor, `the new worker's PID is logged (${fresh})`);
  const exited = r.lines.find((l) => l.msg === 'worker exited; restarting it');
  t.equal(exited?.worker, victim, 'the exit names the killed worker');
  t.equal(exited?.signal, 'SIGKILL');
  // It must bind the same port (its own socket where reusePort works, the shared one otherwise) and take connections.
  await until('the new worker serves', 10_000, () => access(r).some((l) => l.pid === fresh));
  await traffic.stop();

  const lines = access(r).slice(before);
  const toA = lines.filter((l) => l.member === memberId(a));
  t.same(toA, [], 'no worker, the new one included, sent a connection to the disabled member');
  const fromFresh = lines.filter((l) => l.pid === fresh);
  t.ok(fromFresh.length > 0);
  const normal = new Set(['client-closed', 'member-closed']);
  t.same(
    fromFresh.filter((l) => !normal.has(String(l.end)) || l.member !== memberId(b) || l.retries !== 0),
    [],
    "the new worker's connections all went straight to b and ended normally",
  );
  t.same(
    traffic.outcomes.filter((o) => o.body !== undefined && o.body !== 'ok b'),
    [],
    'every answer came from b',
  );
  // Connections the dead worker had accepted (or held in its own accept queue) die with it; none after the restart.
  const failedLate = traffic.outcomes.filter((o) => o.error !== undefined && o.at > restartedSeenAt);
  t.same(failedLate, [], 'no connection failed once the worker was back');
  t.ok(traffic.outcomes.filter((o) => o.body === 'ok b').length > 100, 'the load went on through the restart');

  // The operator sees it: the workers in /status (the new one in the slot it took over), and the metrics.
  const status = JSON.parse((await http('GET', `http://${r.admin}/status`)).body) as { workers: Array<{ pid: number; slot: number; restarts: number }> };
  t.same(status.workers.map((w) => w.slot), [0, 1]);
  t.same(status.workers.map((w) => w.pid).sort(), [fresh, survivor].sort(), 'the survivor and the new worker');
  t.equal(status.workers.find((w) => w.pid === fresh)?.restarts, 1);
  t.equal(status.workers.find((w) => w.pid === survivor)?.restarts, 0);
  const metrics = (await http('GET', `http://${r.admin}/metrics`)).body;
  t.match(metrics, /^switchyard_worker_restarts_total 1$/m);
  t.match(metrics, /^switchyard_workers 2$/m);
});

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
  const forked = await r.waitFor((l) => l.msg === 'worker forked; sending it the config', 10_000);
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

t.test('with failback: manual, a restarted worker keeps to the backup the others hold on', async (t) => {
  const [a, b] = await childBackends(t, 'a', 'b');
  const r = await startCli(
    t,
    config(
      [a],
      0,
      `      - { address: "${memberId(b)}", backup: true }
    failback: manual
`,
    ),
  );
  const state = async (m: ChildBackend) => (await statusMembers(r.admin)).find((s) => s.id === memberId(m))?.state;
  await until('members up', 5_000, async () => (await statusMembers(r.admin)).every((m) => m.state === 'up'));
  const [victim] = await workerPids(r);

  await a.kill();
  await until('a down', 5_000, async () => (await state(a)) === 'down');
  const back = await startChildBackend('a', a.port);
  t.teardown(() => back.kill());
  await until('a up again', 5_000, async () => (await state(a)) === 'up');
  t.same([...new Set(await getUntil(r, 20, () => false))], ['ok b'], 'the backup keeps the traffic (manual failback)');

  process.kill(victim!, 'SIGKILL');
  const restarted = await r.waitFor((l) => l.msg === 'worker restarted', 10_000);
  const since = access(r).length;
  const fromFresh = () => access(r).slice(since).filter((l) => l.pid === restarted.worker);
  const bodies = await getUntil(r, 400, () => fromFresh().length >= 20);
  await until('the new worker serves', 2_000, () => fromFresh().length >= 20);
  t.same([...new Set(bodies)], ['ok b'], 'every connection, the new worker included, still on the backup');

  const enable = await http('POST', `http://${r.admin}/services/web/members/${memberId(a)}/enable`);
  t.equal(enable.status, 200, enable.body);
  const released = access(r).length;
  const fresh = () => access(r).slice(released).filter((l) => l.pid === restarted.worker && l.member === memberId(a));
  await getUntil(r, 400, () => fresh().length >= 5);
  await until('the new worker follows the release', 2_000, () => fresh().length >= 5);
  t.same([...new Set(await getUntil(r, 20, () => false))], ['ok a'], 'after the release, back on the primary');
});

t.test('a worker that stops answering (SIGSTOP) is killed and restarted', async (t) => {
  const [a] = await childBackends(t, 'a');
  const r = await startCli(t, config([a]));
  await until('member a up', 5_000, async () => (await statusMembers(r.admin)).every((m) => m.state === 'up'));
  const [victim] = await workerPids(r);

  process.kill(victim!, 'SIGSTOP');
  const stoppedAt = Date.now();
  const killed = await r.waitFor((l) => l.msg === 'worker stopped answering; killing it', 10_000);
  t.equal(killed.worker, victim);
  // Silent for 5 s, seen at the next one-second round.
  t.ok(Date.now() - stoppedAt < 7_500, `killed ${Date.now() - stoppedAt} ms after it stopped`);
  const restarted = await r.waitFor((l) => l.msg === 'worker restarted', 10_000);
  const since = access(r).length;
  const fromFresh = () => access(r).slice(since).some((l) => l.pid === restarted.worker);
  const bodies = await getUntil(r, 400, fromFresh);
  await until('the new worker serves', 2_000, fromFresh);
  t.same([...new Set(bodies)], ['ok a'], 'connections are served again, the new worker among them');
});

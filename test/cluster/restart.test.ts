// `workers: 2` over a worker's life: one that dies, or stops answering, is restarted and serves by
// the primary's member states from its first connection (reloads to workers: reload.test.ts).
import t from 'tap';
import { childBackends, startChildBackend, type ChildBackend } from '../helpers/child-backend.js';
import { http, START_MS, startCli, statusMembers, until, type StartedCli } from '../helpers/cli.js';
import { access, config, getUntil, memberId, workerPids } from '../helpers/workers.js';

t.setTimeout(90_000);

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
  const restarted = await r.waitFor((l) => l.msg === 'worker restarted', START_MS);
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
  const restarted = await r.waitFor((l) => l.msg === 'worker restarted', START_MS);
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
  // Stopped, it would outlive a primary killed by a failing test; resumed, it sees the primary gone and exits.
  // SIGCONT, not SIGKILL: once the primary has killed it, its PID may be another process's.
  t.teardown(() => {
    try {
      process.kill(victim!, 'SIGCONT');
    } catch {
      // already gone
    }
  });
  const stoppedAt = Date.now();
  const killed = await r.waitFor((l) => l.msg === 'worker stopped answering; killing it', 10_000);
  t.equal(killed.worker, victim);
  // Silent for 5 s, seen at the next one-second round.
  t.ok(Date.now() - stoppedAt < 7_500, `killed ${Date.now() - stoppedAt} ms after it stopped`);
  const restarted = await r.waitFor((l) => l.msg === 'worker restarted', START_MS);
  const since = access(r).length;
  const fromFresh = () => access(r).slice(since).some((l) => l.pid === restarted.worker);
  const bodies = await getUntil(r, 400, fromFresh);
  await until('the new worker serves', 2_000, fromFresh);
  t.same([...new Set(bodies)], ['ok a'], 'connections are served again, the new worker among them');
});

// `workers: 2` end to end: a real primary (node dist/cli.js -c FILE) with two workers,
// members as child processes; everything read back through the proxy, the access log and the admin API.
import t from 'tap';
import { once } from 'node:events';
import { childBackends, type ChildBackend } from '../helpers/child-backend.js';
import { http, startCli, statusMembers, until, type StartedCli } from '../helpers/cli.js';

t.setTimeout(90_000);

/** One GET through the proxy (a new connection each time): the body names the member. */
async function get(port: number): Promise<string> {
  return (await http('GET', `http://127.0.0.1:${port}/`)).body.trim();
}

const members = (r: StartedCli) => statusMembers(r.admin);

function config(members: ChildBackend[], extra = ''): string {
  return `workers: 2
admin: 127.0.0.1:0
log: { access: true }
services:
  - name: web
    listen: 127.0.0.1:0
    drainTimeout: 2s
    healthCheck: { type: tcp, interval: 200ms, fall: 2, rise: 1, timeout: 500ms }
${extra}    members:
${members.map((m) => `      - 127.0.0.1:${m.port}`).join('\n')}
`;
}

const accessPids = (r: StartedCli) => new Set(r.lines.filter((l) => l.msg === 'access').map((l) => l.pid));

t.test('both workers serve; a killed member is marked down and connections keep succeeding', async (t) => {
  const [a, b] = await childBackends(t, 'a', 'b');
  const r = await startCli(t, config([a, b]));
  await until('members up', 5_000, async () => (await members(r)).every((m) => m.state === 'up'));

  // The kernel spreads connections over the workers; keep going (bounded) until both served.
  const names = new Set<string>();
  for (let i = 0; i < 400 && (accessPids(r).size < 2 || names.size < 2); i++) names.add(await get(r.port));
  t.same([...names].sort(), ['ok a', 'ok b']);
  await until('access lines from two workers', 2_000, async () => accessPids(r).size === 2);
  t.equal(accessPids(r).size, 2, 'two worker PIDs served');
  t.notOk(accessPids(r).has(r.child.pid), 'the primary serves no connection');

  await a.kill();
  const killedAt = Date.now();
  // fall 2 × interval 200ms, plus a check timeout and the trip to the workers.
  await until('member a down in /status', 2_500, async () => (await members(r)).find((m) => m.id.endsWith(`:${a.port}`))?.state === 'down');
  t.ok(Date.now() - killedAt < 2_500);
  for (let i = 0; i < 20; i++) t.equal(await get(r.port), 'ok b');
});

t.test('admin drain reaches the workers; metrics are summed once; SIGTERM exits 0', async (t) => {
  const [a, b] = await childBackends(t, 'a', 'b');
  const r = await startCli(t, config([a, b]));
  await until('members up', 5_000, async () => (await members(r)).every((m) => m.state === 'up'));

  const drain = await http('POST', `http://${r.admin}/services/web/members/127.0.0.1:${a.port}/drain`);
  t.equal(drain.status, 200, drain.body);
  await until('a draining', 2_000, async () => (await members(r)).find((m) => m.id.endsWith(`:${a.port}`))?.state === 'draining');
  let served = 0;
  for (let i = 0; i < 200 && accessPids(r).size < 2; i++) {
    t.equal(await get(r.port), 'ok b');
    served++;
  }
  t.equal(accessPids(r).size, 2, 'both workers served, neither to the drained member');

  // Every connection through either worker is counted once, in one series.
  await until('access lines', 2_000, async () => r.lines.filter((l) => l.msg === 'access').length === served);
  const body = (await http('GET', `http://${r.admin}/metrics`)).body;
  const total = /^switchyard_connections_total\{service="web",member="127\.0\.0\.1:(\d+)",result="ok"\} (\d+)$/gm;
  const byMember = new Map<number, number>();
  for (const m of body.matchAll(total)) byMember.set(Number(m[1]), Number(m[2]));
  t.equal(byMember.get(b.port), served, 'connections_total summed across workers');
  t.equal(byMember.get(a.port), 0);
  const up = body.split('\n').filter((l) => l.startsWith('switchyard_member_up{'));
  t.equal(up.length, 2, 'member_up once per member');
  t.ok(up.some((l) => l.includes(`:${b.port}"}`) && l.endsWith(' 1')), up.join('\n'));
  t.ok(up.some((l) => l.includes(`:${a.port}"}`) && l.endsWith(' 0')), 'the draining member is not up');
  t.match(body, /^switchyard_build_info\{[^}]*\} 1$/m);

  const exited = once(r.child, 'exit');
  r.child.kill('SIGTERM');
  const [code] = (await Promise.race([
    exited,
    new Promise((_, reject) => setTimeout(() => reject(new Error('no exit in 10 s')), 10_000)),
  ])) as [number | null];
  t.equal(code, 0);
  t.ok(r.lines.some((l) => l.msg === 'stopped'));
});

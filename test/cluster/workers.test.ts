// `workers: 2` end to end: a real primary (node dist/cli.js -c FILE) with two workers,
// members as child processes; everything read back through the proxy, the access log and the admin API.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChildBackend, type ChildBackend } from '../helpers/child-backend.js';

t.setTimeout(90_000);
const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'switchyard-cluster-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

type Line = Record<string, unknown>;

interface Running {
  child: ChildProcess;
  lines: Line[];
  port: number;
  admin: string;
  waitFor(pred: (l: Line) => boolean, ms?: number): Promise<Line>;
}

async function backend(t: Test, name: string): Promise<ChildBackend> {
  const b = await startChildBackend(name);
  t.teardown(() => b.kill());
  return b;
}

/** Starts the CLI with a config file and waits for its service and admin API to listen. */
async function start(t: Test, yaml: string): Promise<Running> {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  const child = spawn(process.execPath, [cli, '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    // SIGKILL on the primary only: its workers see the IPC channel close and leave by themselves.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Line);
      } catch {
        lines.push({ text: line });
      }
      for (const w of waiters) w();
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const waitFor = (pred: (l: Line) => boolean, ms = 15_000) =>
    new Promise<Line>((resolve, reject) => {
      const check = () => {
        const hit = lines.find(pred);
        if (!hit) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching log line in ${ms} ms; stderr: ${stderr}; lines: ${JSON.stringify(lines.slice(-5))}`));
      }, ms);
      if (!check()) waiters.add(check);
    });
  const listening = await waitFor((l) => l.msg === 'listening');
  const admin = await waitFor((l) => l.msg === 'admin API listening');
  const port = Number(String(listening.listen).split(':').pop());
  const adminText = JSON.stringify(admin);
  const adminAddr = /127\.0\.0\.1:\d+/.exec(adminText)?.[0];
  if (!adminAddr) throw new Error(`no admin address in ${adminText}`);
  return { child, lines, port, admin: adminAddr, waitFor };
}

function http(method: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** One GET through the proxy (a new connection each time): the body names the member. */
async function get(port: number): Promise<string> {
  return (await http('GET', `http://127.0.0.1:${port}/`)).body.trim();
}

interface MemberStatus {
  id: string;
  state: string;
  active: number;
}

async function members(r: Running): Promise<MemberStatus[]> {
  const s = JSON.parse((await http('GET', `http://${r.admin}/status`)).body) as { services: Array<{ members: MemberStatus[] }> };
  return s.services[0]!.members;
}

async function until(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

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

const accessPids = (r: Running) => new Set(r.lines.filter((l) => l.msg === 'access').map((l) => l.pid));

t.test('both workers serve; a killed member is marked down and connections keep succeeding', async (t) => {
  const a = await backend(t, 'a');
  const b = await backend(t, 'b');
  const r = await start(t, config([a, b]));
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
  const a = await backend(t, 'a');
  const b = await backend(t, 'b');
  const r = await start(t, config([a, b]));
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

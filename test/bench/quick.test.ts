/**
 * The bench suite end to end, so it cannot silently rot: builds it, runs two
 * quick scenarios (a steady one and a switchover) through the real CLI in a
 * child process, and checks the table, the JSON and the SVG timeline; then the
 * floor column's relay on its own, as the bench starts it.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo } from 'node:net';
import { createSocket } from 'node:dgram';
import { reusePortWorks } from '../../src/net/reuse-port.js';
import { startRelay } from '../../bench/compare/relay.js';
import { processTree } from '../../bench/lib/children.js';
import { connectionsPerProcess, socketsPerProcess } from '../../bench/lib/procstat.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // SIGINT lets the bench stop its own children before it exits; SIGKILL if it does not.
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface FigureJson {
  name: string;
  values: Record<string, number | null>;
}
interface ScenarioJson {
  name: string;
  figures: FigureJson[];
  runs: { column: string; ops: number; extra?: { perMember?: number[]; detectionMs?: number | null } }[];
  timelines: { column: string; file?: string; bins: { ok: number; stalled: number; failed: number }[] }[];
  configs: Record<string, string>;
}

t.setTimeout(115_000);

t.test('npm run bench -- --quick, one steady and one switchover scenario, through the real CLI', async (t) => {
  t.ok(existsSync(join(ROOT, 'dist', 'cli.js')), 'dist/cli.js is built (npm test builds it first)');
  const build = await run([TSC, '-p', 'bench/tsconfig.json'], 80_000);
  t.equal(build.code, 0, `the bench builds\n${build.stdout}${build.stderr}`);

  const out = mkdtempSync(join(tmpdir(), 'bench-test-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  // A peer that is not installed is said so and its column skipped; the run goes on.
  const bench = await run(
    ['dist-bench/bench/run.js', 'tcp-connrate', 'switchover-kill', '--quick', '--duration', '0.5', '--ops-rate', '200', '--compare', 'haproxy', '--no-progress', '--out', out],
    90_000,
    { ...process.env, HAPROXY: '/nonexistent/haproxy' },
  );
  t.equal(bench.code, 0, `the bench exits 0\n${bench.stderr}`);
  t.match(bench.stderr, /haproxy: \/nonexistent\/haproxy not installed; its column is skipped/);
  t.notMatch(bench.stdout, /\| haproxy/, 'no haproxy column');

  t.match(bench.stdout, /\| figure \| direct \| switchyard \|/, 'the table has the direct and switchyard columns');
  t.match(bench.stdout, /\| new connections\/s \(one request each\) \| [\d.]+k? \| [\d.]+k? \([\d.]+×\) \|/, 'connection rate with its ratio');

  const files = readdirSync(out);
  const jsonFile = files.find((f) => f.endsWith('.json'));
  t.ok(jsonFile, 'a JSON result is written');
  t.ok(files.some((f) => f.endsWith('.md')), 'the markdown is written');
  const json = JSON.parse(readFileSync(join(out, jsonFile!), 'utf8')) as {
    machine: { cores: number; node: string; cpuModel: string };
    targets: Record<string, { missing?: string; version?: string }>;
    scenarios: ScenarioJson[];
    failures: string[];
  };
  t.ok(json.machine.cores > 0 && json.machine.node.startsWith('v') && json.machine.cpuModel, 'machine described');
  t.same(json.failures, [], 'no scenario failed');
  t.match(json.targets.haproxy?.missing, /not installed/, 'the JSON says why haproxy is missing');
  t.same(
    json.scenarios.map((s) => s.name),
    ['tcp-connrate', 'switchover-kill'],
  );

  const connrate = json.scenarios[0]!.figures.find((f) => f.name.startsWith('new connections/s'))!;
  for (const column of ['direct', 'switchyard']) {
    const v = connrate.values[column];
    t.ok(typeof v === 'number' && v > 20 && v < 1_000_000, `${column}: a sane connection rate (${v})`);
  }
  t.match(json.scenarios[0]!.configs.switchyard, /protocol: tcp/, 'the generated Switchyard config is kept');

  const kill = json.scenarios[1]!;
  const value = (name: string, column: string): number | null | undefined => kill.figures.find((f) => f.name.startsWith(name))?.values[column];
  const detection = value('detection', 'switchyard');
  t.ok(typeof detection === 'number' && detection > 0 && detection < 3000, `detection measured from /status (${detection} ms)`);
  t.equal(value('failed operations', 'direct'), 0, 'no failures straight to a healthy backend');
  // How many fail depends on the balancer and the machine's load; the counts must add up.
  const failed = value('failed operations', 'switchyard');
  const run0 = kill.runs.find((r) => r.column === 'switchyard')!;
  t.ok(typeof failed === 'number' && failed >= 0 && failed <= run0.ops, `failed operations counted (${failed} of ${run0.ops})`);
  t.ok(run0.ops >= 200 * 3, `every scheduled operation recorded (${run0.ops})`);
  t.ok(run0.extra?.perMember?.every((n) => n > 0), `both members served operations (${run0.extra?.perMember})`);
  const bins = kill.timelines.find((x) => x.column === 'switchyard')!.bins;
  t.equal(
    bins.reduce((s, b) => s + b.ok + b.stalled + b.failed, 0),
    run0.ops,
    'the timeline holds every operation',
  );

  const svg = kill.timelines.find((x) => x.column === 'switchyard')?.file;
  t.ok(svg && existsSync(join(out, svg)), 'the SVG timeline is written');
  const text = readFileSync(join(out, svg!), 'utf8');
  t.match(text, /^<svg /, 'it is an SVG');
  t.match(text, /SIGKILL m000/, 'the fault is marked');
  t.match(text, /marked down/, 'the detection is marked');
});

t.test('the floor relay carries requests, bulk bytes both ways and UDP, in as many processes as Switchyard has workers, and leaves none behind', async (t) => {
  // The relay as the bench runs it: built by the test above (dist-bench), started as the floor column starts it.
  const entry = join(ROOT, 'dist-bench', 'bench', 'compare', 'floor-relay.js');
  t.ok(existsSync(entry), 'the floor relay is built');
  const echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const udpEcho = createSocket('udp4').on('message', (msg, from) => udpEcho.send(msg, from.port, from.address));
  await new Promise<void>((r) => udpEcho.bind(0, '127.0.0.1', r));
  t.teardown(() => {
    echo.close();
    udpEcho.close();
  });
  const member = (a: AddressInfo) => [{ host: '127.0.0.1', port: a.port }];
  const relay = await startRelay(
    entry,
    {
      services: [
        { name: 'tcp', protocol: 'tcp', members: member(echo.address() as AddressInfo), check: 'tcp' },
        { name: 'udp', protocol: 'udp', members: member(udpEcho.address()), check: 'dns' },
      ],
      health: null,
      peerWorkers: 2,
      connectTimeoutMs: 1000,
      retries: 0,
      maxConnections: 1000,
      workDir: tmpdir(),
    },
    2,
  );
  t.teardown(() => relay.stop());
  // Where Node.js has SO_REUSEPORT, each process binds the ports itself; elsewhere one process carries it all.
  const processes = (await reusePortWorks()) ? 2 : 1;
  t.equal((JSON.parse(relay.config) as { processes: number }).processes, processes, `${processes} process(es)`);
  t.equal(processTree(relay.pid!).length, processes, 'that many processes in its tree');

  const tcp = relay.address('tcp');
  const idle = socketsPerProcess(relay.pid!);
  const held = await Promise.all(
    Array.from({ length: 32 }, async () => {
      const c = connect(tcp.port, tcp.host);
      c.write('ping');
      const [reply] = (await once(c, 'data')) as [Buffer];
      t.equal(reply.toString(), 'ping');
      return c;
    }),
  );
  const spread = connectionsPerProcess(idle, socketsPerProcess(relay.pid!));
  t.ok(spread.length === processes && spread.every((n) => n > 0), `32 connections, held by every process (${spread})`);
  for (const c of held) c.destroy();

  // 32 MiB each way on one connection, the client reading nothing for its first 200 ms: the relay's queues fill,
  // and each side must resume the one its full queue paused.
  const bulk = connect(tcp.port, tcp.host);
  const total = 32 * 1024 * 1024;
  bulk.pause();
  setTimeout(() => bulk.resume(), 200);
  let got = 0;
  const ended = new Promise<void>((resolve) => {
    bulk.on('data', (d: Buffer) => {
      got += d.length;
      if (got === total) resolve();
    });
    bulk.once('close', resolve);
  });
  // Queued all at once (one buffer, referenced 512 times): nothing here waits on the relay but `ended`.
  const chunk = Buffer.alloc(64 * 1024, 'x');
  for (let sent = 0; sent < total; sent += chunk.length) bulk.write(chunk);
  const timer = setTimeout(() => bulk.destroy(), 20_000);
  await ended;
  clearTimeout(timer);
  t.equal(got, total, '32 MiB through and back');
  bulk.destroy();

  const udp = relay.address('udp');
  const answers = await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      const s = createSocket('udp4');
      s.send(`q${i}`, udp.port, udp.host);
      const [msg] = (await once(s, 'message')) as [Buffer];
      s.close();
      return msg.toString();
    }),
  );
  t.same(answers, Array.from({ length: 16 }, (_, i) => `q${i}`), 'every UDP client heard its own datagram back');

  const tree = processTree(relay.pid!);
  await relay.stop();
  // A copy is killed once the first process has exited; it may take a moment to go (a zombie counts as gone).
  const running = () => tree.filter((p) => existsSync(`/proc/${p}`) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${p}/stat`, 'utf8')));
  for (let waited = 0; running().length > 0 && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  t.same(running(), [], 'no floor process left running');
});

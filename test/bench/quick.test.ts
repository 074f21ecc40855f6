/**
 * The bench suite end to end, so it cannot silently rot: builds it, runs two
 * quick scenarios (a steady one and a switchover) through the real CLI in a
 * child process, and checks the table, the JSON and the SVG timeline; then the
 * floor column, on requests, bulk bytes and UDP.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reusePortWorks } from '../../src/net/reuse-port.js';

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
  runs: {
    column: string;
    ops: number;
    errors: number;
    extra?: { perMember?: number[]; detectionMs?: number | null; requestsPerSecond?: number; connectionsPerProcess?: number[]; gbits?: number };
  }[];
  timelines: { column: string; file?: string; bins: { ok: number; stalled: number; failed: number }[] }[];
  configs: Record<string, string>;
}

t.setTimeout(200_000);

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

t.test('--compare floor: the bare relay carries requests, bulk bytes and UDP in as many processes as Switchyard has workers, and leaves none behind', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'bench-floor-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const bench = await run(
    ['dist-bench/bench/run.js', 'tcp-latency', 'tcp-throughput', 'udp-rate', '--quick', '--duration', '0.5', '--workers', '2', '--compare', 'floor', '--no-progress', '--out', out],
    90_000,
  );
  t.equal(bench.code, 0, `the bench exits 0\n${bench.stderr}`);
  t.match(bench.stdout, /\| figure \| direct \| switchyard \| floor \|/, 'the table has a floor column');

  const json = JSON.parse(readFileSync(join(out, readdirSync(out).find((f) => f.endsWith('.json'))!), 'utf8')) as { failures: string[]; scenarios: ScenarioJson[] };
  t.same(json.failures, [], 'no scenario failed');
  // Where Node.js has SO_REUSEPORT, each process binds the port itself; elsewhere one process carries it all.
  const processes = (await reusePortWorks()) ? 2 : 1;
  for (const s of json.scenarios) {
    t.equal((JSON.parse(s.configs.floor!) as { processes: number }).processes, processes, `${s.name}: ${processes} process(es)`);
    const floorRuns = s.runs.filter((r) => r.column === 'floor');
    // Bulk runs count bytes, not operations: a relay that stalls on a full queue moves none.
    const moved = (r: (typeof floorRuns)[number]) => (s.name === 'tcp-throughput' ? (r.extra?.gbits ?? 0) > 0.1 : r.ops > 0);
    t.ok(floorRuns.length > 0 && floorRuns.every((r) => moved(r) && r.errors === 0), `${s.name}: through the floor, no errors`);
  }
  const ka = json.scenarios.find((s) => s.name === 'tcp-latency')!.runs.find((r) => r.column === 'floor' && r.extra?.requestsPerSecond !== undefined)!;
  const spread = ka.extra?.connectionsPerProcess;
  if (processes > 1) t.ok(spread?.length === 2 && spread.every((n) => n > 0), `every process holds connections (${spread})`);
  else t.equal(spread, undefined, 'one process: no spread to tell');

  const left = readdirSync('/proc').filter((p) => {
    try {
      return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('floor-relay.js');
    } catch {
      return false;
    }
  });
  t.same(left, [], 'no floor process left running');
});

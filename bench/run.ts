/**
 * `npm run bench`: starts backends, the balancer (and, with --compare, HAProxy,
 * NGINX, the Node relays) and the load generators itself; runs the scenarios asked for;
 * prints a markdown table on stdout and writes JSON, markdown and SVG
 * timelines to bench/results/.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE, type Args } from './args.js';
import { killAll } from './lib/children.js';
import { now } from './lib/clock.js';
import { machine } from './lib/machine.js';
import { Progress } from './lib/progress.js';
import { direct } from './compare/direct.js';
import { switchyard, switchyardReplay } from './compare/switchyard.js';
import { haproxy } from './compare/haproxy.js';
import { nginx } from './compare/nginx.js';
import { pipe } from './compare/pipe.js';
import { floor } from './compare/floor.js';
import type { HealthSpec, Target } from './compare/target.js';
import { scenarios } from './scenarios/index.js';
import { scratchDir, type BenchContext, type BenchOptions } from './scenarios/context.js';
import type { ScenarioReport } from './report/model.js';
import { columnsOf, markdown } from './report/table.js';
import { timelineSvg } from './report/svg.js';
import { profileMarkdown } from './report/profile.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function options(args: Args, profileDir: string | undefined): BenchOptions {
  return {
    ...(profileDir ? { profileDir } : {}),
    quick: args.quick,
    repeat: args.repeat ?? (args.quick ? 1 : 3),
    ...(args.workers !== undefined ? { workers: args.workers } : {}),
    peerWorkers: args.peerWorkers,
    rate: args.rate,
    opsRate: args.opsRate,
    stallMs: args.stallMs,
    opTimeoutMs: args.opTimeoutMs,
    idleConnections: args.idle ?? (args.quick ? 2000 : 8000),
    // Aggressive but realistic: a dead member is out in about 2 checks, a returning one back in 2.
    health: { intervalMs: 250, fastIntervalMs: 100, downIntervalMs: 250, timeoutMs: 200, rise: 2, fall: 2 },
    // Everyday settings for the steady-state scenarios, where a check must not time out under full load.
    steadyHealth: { intervalMs: 1000, fastIntervalMs: 250, downIntervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 3 },
    connectTimeoutMs: 1000,
    retries: 2,
  };
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const progress = new Progress(args.progress);
  const started = new Date();
  const outDir = resolve(args.out ?? join(REPO, 'bench', 'results'));
  const base = `bench-${stamp(started)}`;
  const opts = options(args, args.profile ? join(outDir, `${base}-profiles`) : undefined);
  const peers: Record<string, Target> = { haproxy, nginx, pipe, floor };
  const wanted: Target[] = [direct, switchyard, ...args.compare.map((c) => peers[c]!)];
  const targets: Target[] = [];
  const targetInfo: Record<string, { version?: string; missing?: string }> = {};
  for (const t of wanted) {
    const missing = t.missing();
    if (missing) {
      progress.log(`bench: ${t.name}: ${missing}; its column is skipped`);
      targetInfo[t.name] = { missing };
    } else {
      targets.push(t);
      targetInfo[t.name] = { version: t.version() };
      if (t === switchyard) targetInfo[switchyardReplay.name] = { version: switchyardReplay.version() };
    }
  }
  const selected = args.scenarios.length ? scenarios.filter((s) => args.scenarios.includes(s.name)) : scenarios;
  const workDir = scratchDir(tmpdir(), 'switchyard-bench');
  const measureMs = args.durationMs ?? (args.quick ? 1500 : 5000);
  const ctx: BenchContext = { options: opts, targets, progress, workDir, measureMs, warmupMs: args.quick ? 500 : 1000 };
  const loadBefore = loadavg()[0] ?? 0;
  const reports: ScenarioReport[] = [];
  const failures: string[] = [];
  try {
    for (const [i, scenario] of selected.entries()) {
      progress.phase(`[${i + 1}/${selected.length}] ${scenario.name}`);
      const t0 = now();
      try {
        const rec = await scenario.run(ctx);
        rec.report.durationMs = Math.round(now() - t0);
        reports.push(rec.report);
      } catch (err) {
        failures.push(`${scenario.name}: ${(err as Error).stack ?? err}`);
        progress.log(`bench: ${scenario.name} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    progress.done();
    killAll();
    if (!args.keep) rmSync(workDir, { recursive: true, force: true });
    else process.stderr.write(`bench: scratch directory kept: ${workDir}\n`);
  }

  mkdirSync(outDir, { recursive: true });
  for (const r of reports) {
    for (const t of r.timelines) {
      const file = `${base}-${r.name}-${t.column}.svg`;
      writeFileSync(join(outDir, file), timelineSvg(t, `${r.name} through ${t.column}`));
      t.file = file;
    }
  }
  const m = machine();
  const columns = columnsOf(reports, targets.map((t) => t.name));
  const checks = (h: HealthSpec): string =>
    `every ${h.intervalMs} ms, ${h.fastIntervalMs} ms while changing, ${h.downIntervalMs} ms while down; timeout ${h.timeoutMs} ms; rise ${h.rise}, fall ${h.fall}`;
  const heading = [
    `# Switchyard bench, ${started.toISOString()}${args.quick ? ' (--quick)' : ''}`,
    '',
    `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}, open files ${m.openFileLimit}.`,
    `Columns: ${columns.map((c) => `${c} (${targetInfo[c]?.version ?? ''})`).join('; ')}.` +
      ` Switchyard workers: ${opts.workers ?? 'default (auto)'}; HAProxy threads / NGINX workers: ${opts.peerWorkers}.`,
    ...Object.entries(targetInfo)
      .filter(([, v]) => v.missing)
      .map(([k, v]) => `Skipped ${k}: ${v.missing}.`),
    `Active health checks, where the proxy has them (HTTP GET / for TCP members except bulk ones, TCP connect for those, DNS for UDP): ` +
      `switchover scenarios ${checks(opts.health)}; steady-state scenarios ${checks(opts.steadyHealth)}. ` +
      `Connect timeout ${opts.connectTimeoutMs} ms, ${opts.retries} retries on another member.`,
    `Each steady-state figure: ${measureMs / 1000} s measured after ${ctx.warmupMs / 1000} s warm-up, median of ${opts.repeat}; ratios are to the direct column (the same load straight to a backend).`,
  ];
  if (loadBefore > m.cores * 0.75) {
    heading.push(
      `**The machine was busy before the run** (1-minute load average ${loadBefore.toFixed(1)} on ${m.cores} cores): figures are noisy; compare columns within this run only.`,
    );
  }
  let md = markdown(reports, columns, heading);
  if (opts.profileDir) md += ['', '## Where Switchyard spent its CPU', '', ...profileMarkdown(opts.profileDir, REPO)].join('\n');
  const json = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: m,
    loadAverageBefore: loadBefore,
    options: { ...opts, scenarios: selected.map((s) => s.name), compare: args.compare, measureMs, warmupMs: ctx.warmupMs },
    targets: targetInfo,
    scenarios: reports,
    failures,
  };
  writeFileSync(join(outDir, `${base}.json`), JSON.stringify(json, null, 2));
  writeFileSync(join(outDir, `${base}.md`), md);
  process.stdout.write(md + '\n');
  const rel = (f: string): string => relative(process.cwd(), join(outDir, f)) || f;
  process.stderr.write(
    `bench: wrote ${rel(`${base}.json`)}, ${rel(`${base}.md`)}` +
      (reports.some((r) => r.timelines.length) ? ` and ${reports.reduce((n, r) => n + r.timelines.length, 0)} SVG timelines` : '') +
      '\n',
  );
  if (opts.profileDir) process.stderr.write(`bench: Switchyard CPU profiles in ${rel(`${base}-profiles`)}\n`);
  for (const f of failures) process.stderr.write(`bench: FAILED ${f}\n`);
  return failures.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
    killAll();
    process.exit(1);
  },
);

/**
 * What every scenario gets: the options of the run, the targets to measure
 * (direct first), and helpers to start them over a set of backends and to
 * measure one load through one of them with the proxy's CPU sampled in the
 * measurement window.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Target, TargetOptions, RunningTarget, HealthSpec, ServiceSpec } from '../compare/target.js';
import type { Progress } from '../lib/progress.js';
import { cpuBetween, cpuSample } from '../lib/procstat.js';
import { sleepUntil } from '../lib/clock.js';
import { runLoad, type Merged, type LoadOptions } from '../load/pool.js';
import type { Job } from '../load/jobs.js';
import type { Recorder } from '../report/model.js';
import type { Backend } from '../backends/control.js';

export interface BenchOptions {
  quick: boolean;
  repeat: number;
  /** Switchyard's `workers` (undefined: its default, auto). */
  workers?: number;
  /** HAProxy threads / NGINX workers. */
  peerWorkers: number;
  /** Open-loop latency: offered requests/s. */
  rate: number;
  /** Switchover: operations/s. */
  opsRate: number;
  /** An operation slower than this is stalled. */
  stallMs: number;
  /** An operation not done by then has failed. */
  opTimeoutMs: number;
  idleConnections: number;
  /** Switchover scenarios: aggressive checks, so detection is quick. */
  health: HealthSpec;
  /** Steady-state scenarios: relaxed checks, so a loaded machine does not fail members mid-measurement. */
  steadyHealth: HealthSpec;
  connectTimeoutMs: number;
  retries: number;
  /** Where Switchyard's CPU profiles go (one folder per scenario), if asked for. */
  profileDir?: string;
}

export interface BenchContext {
  options: BenchOptions;
  /** direct first, then switchyard, then the peers asked for. */
  targets: Target[];
  progress: Progress;
  /** A scratch directory for this run (configs, sockets, logs). */
  workDir: string;
  /** Seconds of steady load per measurement, and of warm-up before it. */
  measureMs: number;
  warmupMs: number;
}

export function scratchDir(parent: string, name: string): string {
  mkdirSync(parent, { recursive: true });
  return mkdtempSync(join(parent, `${name}-`));
}

/** A service over these backends, with the health check that suits their kind. */
export function serviceFor(name: string, backends: Backend[], udpResponses?: number): ServiceSpec {
  const kind = backends[0]!.kind;
  return {
    name,
    protocol: kind === 'dns' ? 'udp' : 'tcp',
    check: kind === 'http' ? 'http' : kind === 'dns' ? 'dns' : 'tcp',
    members: backends.map((b) => ({ host: b.host, port: b.port })),
    ...(udpResponses !== undefined ? { udpResponses } : {}),
  };
}

export function targetOptions(ctx: BenchContext, services: ServiceSpec[], workDir: string, health: HealthSpec | null): TargetOptions {
  return {
    services,
    health,
    ...(ctx.options.workers !== undefined ? { workers: ctx.options.workers } : {}),
    peerWorkers: ctx.options.peerWorkers,
    connectTimeoutMs: ctx.options.connectTimeoutMs,
    retries: ctx.options.retries,
    maxConnections: Math.max(10_000, ctx.options.idleConnections + 1000),
    workDir,
    ...(ctx.options.profileDir ? { profileDir: join(ctx.options.profileDir, basename(workDir)) } : {}),
  };
}

export interface Started {
  target: Target;
  running: RunningTarget;
}

/**
 * Starts every target that can carry these services; the others get a note on
 * every figure (missing, unsupported, failed to start) and are skipped.
 */
export async function startTargets(
  ctx: BenchContext,
  rec: Recorder,
  services: ServiceSpec[],
  health: HealthSpec | null = ctx.options.steadyHealth,
): Promise<Started[]> {
  const started: Started[] = [];
  for (const target of ctx.targets) {
    const why = target.missing() ?? services.map((s) => target.unsupported(s.protocol)).find((x) => x) ?? null;
    if (why) {
      rec.noteAll(target.name, why);
      continue;
    }
    const dir = scratchDir(ctx.workDir, `${rec.report.name}-${target.name}`);
    try {
      ctx.progress.phase(`${rec.report.name} · starting ${target.name}`);
      const running = await target.start(targetOptions(ctx, services, dir, health));
      if (running.config) rec.report.configs[target.name] = running.config;
      started.push({ target, running });
    } catch (err) {
      const msg = (err as Error).message
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .slice(0, 2)
        .join(' ');
      ctx.progress.log(`bench: ${target.name} failed to start for ${rec.report.name}: ${(err as Error).message}`);
      rec.noteAll(target.name, `failed to start: ${msg}`);
    }
  }
  return started;
}

export async function stopTargets(started: Started[]): Promise<void> {
  await Promise.all(started.map((s) => s.running.stop()));
}

export interface Measured {
  load: Merged;
  /** The proxy tree's CPU in the window, in cores; null for direct. */
  proxyCpu: number | null;
  /** The backends' CPU in the window, in cores (what limits the direct run, often). */
  backendCpu: number | null;
  /** Whatever `atWindow` returned at the window's start and end. */
  edges: [unknown, unknown];
}

export interface MeasureOptions {
  /** Sampled at the window's start and end (e.g. a sink's byte count); both answers come back in `edges`. */
  atEdge?: () => Promise<unknown>;
  /** Backends whose CPU to read in the window. */
  backends?: Backend[];
  load?: LoadOptions;
}

/**
 * Runs one load; samples the proxy's and the backends' CPU (and `atEdge`)
 * exactly at the measurement window's start and end.
 */
export async function measure(
  running: RunningTarget,
  shards: number,
  makeJob: (shard: number, startAt: number) => Job,
  opts: MeasureOptions = {},
): Promise<Measured> {
  const pids = (): number[] => (opts.backends ?? []).map((b) => b.pid).filter((p): p is number => p !== undefined);
  const sample = (pid: number | undefined): Map<number, number> | undefined => (pid ? cpuSample(pid) : undefined);
  const sampleBackends = (): Map<number, number> => new Map(pids().flatMap((p) => [...cpuSample(p)]));
  let proxy: [Map<number, number> | undefined, Map<number, number> | undefined] = [undefined, undefined];
  let backends: [Map<number, number>, Map<number, number>] = [new Map(), new Map()];
  const edges: [unknown, unknown] = [undefined, undefined];
  const load = await runLoad(shards, makeJob, {
    ...opts.load,
    onStart: async (startAt) => {
      const job = makeJob(0, startAt);
      await sleepUntil(job.startAt + job.warmupMs);
      proxy = [sample(running.pid), undefined];
      backends = [sampleBackends(), new Map()];
      edges[0] = await opts.atEdge?.();
      await sleepUntil(job.startAt + job.warmupMs + job.durationMs);
      proxy[1] = sample(running.pid);
      backends[1] = sampleBackends();
      edges[1] = await opts.atEdge?.();
    },
  });
  const seconds = load.windowMs / 1000;
  const proxyCpu = proxy[0] && proxy[1] && seconds > 0 ? cpuBetween(proxy[0], proxy[1]) / seconds : null;
  const backendCpu = backends[1].size > 0 && seconds > 0 ? cpuBetween(backends[0], backends[1]) / seconds : null;
  return { load, proxyCpu, backendCpu, edges };
}

/**
 * Starts the targets over running backends, then runs `measureOne` on each,
 * `repeat` times, interleaved (direct, switchyard, … , direct, switchyard, …)
 * so slow drift in the machine spreads over every column alike.
 */
export async function eachTarget(
  ctx: BenchContext,
  rec: Recorder,
  services: ServiceSpec[],
  measureOne: (s: Started, repeat: number) => Promise<void>,
): Promise<void> {
  const started = await startTargets(ctx, rec, services);
  try {
    for (let r = 0; r < ctx.options.repeat; r++) {
      for (const s of started) {
        try {
          await measureOne(s, r);
        } catch (err) {
          ctx.progress.log(`bench: ${rec.report.name} through ${s.target.name} failed: ${(err as Error).message}`);
          rec.report.notes.push(`${s.target.name}: ${(err as Error).message.split('\n')[0]}`);
        }
      }
    }
  } finally {
    await stopTargets(started);
  }
}

export function recordRun(rec: Recorder, column: string, measurement: string, repeat: number, m: Measured, extra?: Record<string, unknown>): void {
  rec.run({
    column,
    measurement,
    repeat,
    windowMs: Math.round(m.load.windowMs),
    generator: { processes: m.load.results.length, cpuCores: round(m.load.cpu, 3), busiestProcessCores: round(m.load.cpuMax, 3) },
    proxyCpuCores: m.proxyCpu === null ? null : round(m.proxyCpu, 3),
    backendCpuCores: m.backendCpu === null ? null : round(m.backendCpu, 3),
    ops: m.load.ops,
    errors: m.load.errors,
    errorKinds: m.load.errorKinds,
    ...(extra ? { extra } : {}),
  });
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A phase label: "scenario · target · what (2/3)". */
export function label(ctx: BenchContext, rec: Recorder, s: Started, what: string, repeat: number): string {
  const of = ctx.options.repeat > 1 ? ` (${repeat + 1}/${ctx.options.repeat})` : '';
  return `${rec.report.name} · ${s.target.name} · ${what}${of}`;
}

/**
 * The parent's side of the load generators: fork one process per shard, start
 * them on the same instant, gather and merge their results.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track, stopChild } from '../lib/children.js';
import { now } from '../lib/clock.js';
import { Histogram } from '../lib/histogram.js';
import type { FromGenerator, Job, JobResult, ToGenerator } from './jobs.js';

const ENTRY = fileURLToPath(new URL('./generator.js', import.meta.url));
/** Time between sending the jobs and their common start: room to open connections first. */
const LEAD_MS = 400;

export interface Merged {
  results: JobResult[];
  windowMs: number;
  ops: number;
  bytes: number;
  errors: number;
  errorKinds: Record<string, number>;
  histogram: Histogram;
  sent: number;
  lost: number;
  /** Generator CPU in the window, summed over processes, in cores (1 = one core busy). */
  cpu: number;
  /** The busiest generator process, in cores: near 1 means that process was the limit. */
  cpuMax: number;
  records: Float64Array[];
}

export interface LoadOptions {
  /** idle jobs: called once every process holds its connections; the connections are released when it resolves. */
  onHolding?: (established: number, errors: number) => Promise<void>;
  /** Upper bound on the whole run, ms. */
  timeoutMs?: number;
  /**
   * Called with the common start instant once the jobs are sent, to schedule
   * what happens during the run (samples at the window's edges, a fault); the
   * run's result waits for the promise it returns.
   */
  onStart?: (startAt: number) => Promise<unknown> | void;
}

function spawnGenerator(): Promise<ChildProcess> {
  const child = track(
    fork(ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced', execArgv: [] }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('load generator did not start')), 10_000);
    child.once('exit', (code) => reject(new Error(`load generator exited (${code}) before it was ready`)));
    child.once('message', (msg: FromGenerator) => {
      clearTimeout(timer);
      if (msg.type === 'ready') resolve(child);
      else reject(new Error(`load generator: unexpected ${msg.type}`));
    });
  });
}

/** Runs `shards` generator processes, job i built by `makeJob(i, startAt)`. */
export async function runLoad(shards: number, makeJob: (shard: number, startAt: number) => Job, opts: LoadOptions = {}): Promise<Merged> {
  const children = await Promise.all(Array.from({ length: shards }, spawnGenerator));
  try {
    const startAt = now() + LEAD_MS;
    const jobs = children.map((_, i) => makeJob(i, startAt));
    const holding: Promise<{ established: number; errors: number }>[] = [];
    const during = Promise.resolve(opts.onStart?.(startAt));
    during.catch(() => {}); // awaited below; this keeps an early rejection from counting as unhandled
    const results = children.map((child, i) => {
      let onHold: (v: { established: number; errors: number }) => void = () => {};
      holding.push(new Promise((resolve) => (onHold = resolve)));
      return new Promise<JobResult>((resolve, reject) => {
        child.once('exit', (code, sig) => reject(new Error(`load generator exited (${code ?? sig}) during the run`)));
        child.on('message', (msg: FromGenerator) => {
          if (msg.type === 'result') resolve(msg.result);
          else if (msg.type === 'error') reject(new Error(`load generator: ${msg.message}`));
          else if (msg.type === 'holding') onHold({ established: msg.established, errors: msg.errors });
        });
        child.send({ type: 'run', job: jobs[i]! } satisfies ToGenerator);
      });
    });
    if (jobs[0]?.kind === 'idle' && opts.onHolding) {
      const held = await Promise.race([Promise.all(holding), Promise.all(results).then(() => undefined)]);
      if (held) {
        await opts.onHolding(
          held.reduce((s, h) => s + h.established, 0),
          held.reduce((s, h) => s + h.errors, 0),
        );
      }
      for (const child of children) child.send({ type: 'release' } satisfies ToGenerator);
    }
    const lastDue = Math.max(...jobs.map((j) => j.startAt + j.warmupMs + j.durationMs));
    const limit = opts.timeoutMs ?? lastDue - now() + 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('load generators did not finish in time')), limit);
    });
    try {
      const [merged] = await Promise.race([Promise.all([Promise.all(results), during]), timeout]);
      return merge(merged);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 'SIGKILL')));
  }
}

export function merge(results: JobResult[]): Merged {
  const histogram = new Histogram();
  const errorKinds: Record<string, number> = {};
  const m: Merged = {
    results,
    windowMs: 0,
    ops: 0,
    bytes: 0,
    errors: 0,
    errorKinds,
    histogram,
    sent: 0,
    lost: 0,
    cpu: 0,
    cpuMax: 0,
    records: [],
  };
  for (const r of results) {
    m.windowMs = Math.max(m.windowMs, r.windowMs);
    m.ops += r.ops;
    m.bytes += r.bytes;
    m.errors += r.errors;
    m.sent += r.sent ?? 0;
    m.lost += r.lost ?? 0;
    m.cpu += r.cpu;
    m.cpuMax = Math.max(m.cpuMax, r.cpu);
    for (const [k, v] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
    if (r.histogram) histogram.merge(r.histogram);
    if (r.records) m.records.push(r.records);
  }
  return m;
}

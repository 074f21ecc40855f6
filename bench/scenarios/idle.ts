/**
 * idle-connections: hold N idle proxied connections (one exchange each, so the
 * member side exists too) and read the proxy's resident memory, whole process
 * tree, before and while they are held: KiB per connection above the idle process. The idle
 * process is also given in PSS, which counts the pages its processes share (the binary) once.
 */
import { startBackends, closeBackends } from '../backends/control.js';
import { sleep } from '../lib/clock.js';
import { treePssKiB, treeRssKiB } from '../lib/procstat.js';
import { median, Recorder } from '../report/model.js';
import { runLoad } from '../load/pool.js';
import { round, serviceFor, startTargets, stopTargets, type BenchContext } from './context.js';
import type { Scenario } from './index.js';

const PER_CONN = 'resident memory per idle proxied connection (KiB)';
const BEFORE = 'resident memory, idle process (MiB)';
const PSS_BEFORE = 'proportional memory (PSS), idle process (MiB)';
const SHARDS = 2;
const SETTLE_MS = 1500;

/** The median of three reads 100 ms apart, in KiB. */
async function memorySample(pid: number, read: (pid: number) => number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) {
    xs.push(read(pid));
    await sleep(100);
  }
  return median(xs);
}

export const idleConnections: Scenario = {
  name: 'idle-connections',
  title: 'Idle proxied connections: resident memory',
  async run(ctx: BenchContext): Promise<Recorder> {
    const rec = new Recorder(this.name, this.title);
    const n = ctx.options.idleConnections;
    const HELD = `resident memory, ${n.toLocaleString('en-US')} connections held (MiB)`;
    rec.figure(PER_CONN, 'KiB', 'lower', false);
    rec.figure(BEFORE, 'MiB', 'lower', false);
    rec.figure(PSS_BEFORE, 'MiB', 'lower', false);
    rec.figure(HELD, 'MiB', 'lower', false);
    if (ctx.options.quick) rec.report.notes.push(`--quick holds ${n} connections (the full run holds 8,000)`);
    for (const target of ctx.targets) {
      if (target.name === 'direct') {
        rec.noteAll('direct', 'no proxy');
        continue;
      }
      const backends = await startBackends('http', 1);
      const services = [serviceFor('idle', backends)];
      try {
        // A fresh proxy for every repeat: memory a process took for earlier connections is
        // not given back to the system, and would count as its idle size.
        for (let r = 0; r < ctx.options.repeat; r++) {
          const started = await startTargets({ ...ctx, targets: [target] }, rec, services);
          try {
            for (const s of started) {
              ctx.progress.phase(`${rec.report.name} · ${target.name} · settling`, SETTLE_MS);
              await sleep(SETTLE_MS);
              const pid = s.running.pid!;
              const before = await memorySample(pid, treeRssKiB);
              const pssBefore = await memorySample(pid, treePssKiB);
              let after = 0;
              let held = 0;
              ctx.progress.phase(`${rec.report.name} · ${target.name} · opening ${n} connections`);
              const load = await runLoad(
                SHARDS,
                (i, startAt) => ({
                  kind: 'idle',
                  target: s.running.address('idle'),
                  startAt,
                  warmupMs: 0,
                  durationMs: 0,
                  connections: Math.floor(n / SHARDS) + (i < n % SHARDS ? 1 : 0),
                  concurrency: 100,
                  timeoutMs: 10_000,
                }),
                {
                  timeoutMs: 120_000,
                  onHolding: async (established) => {
                    held = established;
                    ctx.progress.phase(`${rec.report.name} · ${target.name} · holding ${established}`, SETTLE_MS);
                    await sleep(SETTLE_MS);
                    after = await memorySample(pid, treeRssKiB);
                  },
                },
              );
              const perConn = held > 0 ? (after - before) / held : null;
              rec.sample(PER_CONN, target.name, perConn);
              rec.sample(BEFORE, target.name, before / 1024);
              rec.sample(PSS_BEFORE, target.name, pssBefore / 1024);
              rec.sample(HELD, target.name, after / 1024);
              if (held < n) rec.note(PER_CONN, target.name, `only ${held} of ${n} connections held (${JSON.stringify(load.errorKinds)})`);
              rec.run({
                column: target.name,
                measurement: `open and hold ${n} connections`,
                repeat: r,
                windowMs: Math.round(load.windowMs),
                generator: { processes: load.results.length, cpuCores: round(load.cpu, 3), busiestProcessCores: round(load.cpuMax, 3) },
                proxyCpuCores: null,
                ops: held,
                errors: load.errors,
                errorKinds: load.errorKinds,
                extra: { connections: n, held, rssBeforeKiB: before, pssBeforeKiB: pssBefore, rssHeldKiB: after, kibPerConnection: perConn && round(perConn, 2) },
              });
            }
          } finally {
            await stopTargets(started);
          }
        }
      } finally {
        await closeBackends(backends);
      }
    }
    return rec;
  },
};

/**
 * tcp-latency: keep-alive requests/s with 64 connections in a closed loop (as
 * wrk -c64 measures it), then latency percentiles at a fixed offered rate in an
 * open loop, free of coordinated omission (as wrk2 measures it).
 */
import { startBackends, closeBackends } from '../backends/control.js';
import { connectionsPerProcess, socketsPerProcess } from '../lib/procstat.js';
import { Recorder } from '../report/model.js';
import { eachTarget, label, measure, recordRun, serviceFor, type BenchContext } from './context.js';
import type { Scenario } from './index.js';

const KA_RATE = 'keep-alive requests/s (64 connections)';
const KA_P99 = 'keep-alive p99 (ms)';
const CONNECTIONS = 64;
const KA_SHARDS = 2;

export const tcpLatency: Scenario = {
  name: 'tcp-latency',
  title: 'TCP request/response: keep-alive rate and open-loop latency',
  async run(ctx: BenchContext): Promise<Recorder> {
    const rec = new Recorder(this.name, this.title);
    const rate = ctx.options.rate;
    const at = `at ${rate.toLocaleString('en-US')} req/s`;
    const P50 = `p50 ${at}, open loop (ms)`;
    const P99 = `p99 ${at} (ms)`;
    const P999 = `p99.9 ${at} (ms)`;
    const MAX = `max ${at} (ms)`;
    rec.figure(KA_RATE, 'req/s', 'higher');
    rec.figure(KA_P99, 'ms', 'lower');
    for (const f of [P50, P99, P999, MAX]) rec.figure(f, 'ms', 'lower');
    const backends = await startBackends('http', 1);
    /** Per target, how each run's connections were spread over the proxy's processes. */
    const spreads = new Map<string, string[]>();
    try {
      const services = [serviceFor('rr', backends)];
      await eachTarget(ctx, rec, services, async (s, r) => {
        const total = ctx.warmupMs + ctx.measureMs;
        ctx.progress.phase(label(ctx, rec, s, `keep-alive, ${CONNECTIONS} connections`, r), total);
        const pid = s.running.pid;
        const idle = pid === undefined ? undefined : socketsPerProcess(pid);
        const ka = await measure(s.running, KA_SHARDS, (_, startAt) => ({
          kind: 'keepalive',
          target: s.running.address('rr'),
          startAt,
          warmupMs: ctx.warmupMs,
          durationMs: ctx.measureMs,
          connections: CONNECTIONS / KA_SHARDS,
        }), { backends, atEdge: async () => (pid === undefined ? undefined : socketsPerProcess(pid)) });
        const kaRate = ka.load.ops / (ka.load.windowMs / 1000);
        rec.sample(KA_RATE, s.target.name, kaRate);
        rec.sample(KA_P99, s.target.name, ka.load.histogram.percentile(99) / 1000);
        // Workers that share one listening socket take connections as the scheduler wakes them: a lopsided
        // spread of these 64 long-lived connections moves this figure by itself, so the report says what it was.
        const busy = ka.edges[0] as Map<number, number> | undefined;
        const spread = idle !== undefined && busy !== undefined && busy.size > 1 ? connectionsPerProcess(idle, busy) : undefined;
        if (spread !== undefined) {
          const runs = [...(spreads.get(s.target.name) ?? []), spread.join('/')];
          spreads.set(s.target.name, runs);
          rec.note(KA_RATE, s.target.name, `connections per process (busiest first), each run: ${runs.join(', ')}`);
        }
        recordRun(rec, s.target.name, KA_RATE, r, ka, { requestsPerSecond: kaRate, ...(spread && { connectionsPerProcess: spread }) });

        ctx.progress.phase(label(ctx, rec, s, `open loop ${rate} req/s`, r), total);
        const ol = await measure(s.running, 1, (_, startAt) => ({
          kind: 'openloop',
          target: s.running.address('rr'),
          startAt,
          warmupMs: ctx.warmupMs,
          durationMs: ctx.measureMs,
          connections: CONNECTIONS,
          rate,
          timeoutMs: ctx.options.opTimeoutMs,
        }), { backends });
        const h = ol.load.histogram;
        rec.sample(P50, s.target.name, h.percentile(50) / 1000);
        rec.sample(P99, s.target.name, h.percentile(99) / 1000);
        rec.sample(P999, s.target.name, h.percentile(99.9) / 1000);
        rec.sample(MAX, s.target.name, h.max / 1000);
        const achieved = ol.load.ops / (ol.load.windowMs / 1000);
        if (ol.load.lost > 0) rec.note(MAX, s.target.name, `${ol.load.lost} requests unanswered within ${ctx.options.opTimeoutMs} ms`);
        recordRun(rec, s.target.name, `open loop ${rate} req/s`, r, ol, {
          offered: rate,
          achieved,
          sent: ol.load.sent,
          lost: ol.load.lost,
          percentilesMs: Object.fromEntries([50, 90, 99, 99.9, 99.99, 100].map((p) => [p, h.percentile(p) / 1000])),
        });
      });
    } finally {
      await closeBackends(backends);
    }
    return rec;
  },
};

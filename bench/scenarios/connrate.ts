/** tcp-connrate: new connection, one small request/response, close, as fast as it goes (closed loop). */
import { startBackends, closeBackends } from '../backends/control.js';
import { Recorder } from '../report/model.js';
import { eachTarget, label, measure, recordRun, serviceFor, type BenchContext } from './context.js';
import type { Scenario } from './index.js';

const RATE = 'new connections/s (one request each)';
const P99 = 'new connection + request p99 (ms)';
const SHARDS = 2;
const CONCURRENCY = 64;

export const tcpConnRate: Scenario = {
  name: 'tcp-connrate',
  title: 'TCP new connections per second',
  async run(ctx: BenchContext): Promise<Recorder> {
    const rec = new Recorder(this.name, this.title);
    rec.figure(RATE, 'conn/s', 'higher');
    rec.figure(P99, 'ms', 'lower');
    const backends = await startBackends('http', 1);
    try {
      const services = [serviceFor('conn', backends)];
      await eachTarget(ctx, rec, services, async (s, r) => {
        ctx.progress.phase(label(ctx, rec, s, `${CONCURRENCY} concurrent`, r), ctx.warmupMs + ctx.measureMs);
        const m = await measure(s.running, SHARDS, (_, startAt) => ({
          kind: 'connrate',
          target: s.running.address('conn'),
          startAt,
          warmupMs: ctx.warmupMs,
          durationMs: ctx.measureMs,
          concurrency: CONCURRENCY / SHARDS,
          timeoutMs: ctx.options.opTimeoutMs,
        }), { backends });
        const rate = m.load.ops / (m.load.windowMs / 1000);
        rec.sample(RATE, s.target.name, rate);
        rec.sample(P99, s.target.name, m.load.histogram.percentile(99) / 1000);
        recordRun(rec, s.target.name, RATE, r, m, { connectionsPerSecond: rate });
      });
    } finally {
      await closeBackends(backends);
    }
    return rec;
  },
};

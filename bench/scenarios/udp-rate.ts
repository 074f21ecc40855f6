/** udp-rate: DNS-shaped request/response datagrams per second and loss (dnsperf's measure). */
import { startBackends, closeBackends } from '../backends/control.js';
import { Recorder } from '../report/model.js';
import { eachTarget, label, measure, recordRun, serviceFor, type BenchContext } from './context.js';
import type { Scenario } from './index.js';

const RATE = 'UDP queries/s';
const LOSS = 'UDP queries lost (%)';
const P99 = 'UDP query p99 (ms)';
const SHARDS = 2;
const SOCKETS = 8;
const WINDOW = 8;
const TIMEOUT_MS = 500;

export const udpRate: Scenario = {
  name: 'udp-rate',
  title: 'UDP request/response rate',
  async run(ctx: BenchContext): Promise<Recorder> {
    const rec = new Recorder(this.name, this.title);
    rec.figure(RATE, 'q/s', 'higher');
    rec.figure(LOSS, '%', 'lower', false);
    rec.figure(P99, 'ms', 'lower');
    const backends = await startBackends('dns', 1);
    try {
      const services = [serviceFor('dns', backends, 0)];
      await eachTarget(ctx, rec, services, async (s, r) => {
        ctx.progress.phase(label(ctx, rec, s, `${SHARDS * SOCKETS} sockets × ${WINDOW} outstanding`, r), ctx.warmupMs + ctx.measureMs);
        const m = await measure(s.running, SHARDS, (_, startAt) => ({
          kind: 'udprate',
          target: s.running.address('dns'),
          startAt,
          warmupMs: ctx.warmupMs,
          durationMs: ctx.measureMs,
          sockets: SOCKETS,
          window: WINDOW,
          timeoutMs: TIMEOUT_MS,
        }), { backends });
        const rate = m.load.ops / (m.load.windowMs / 1000);
        const loss = m.load.sent > 0 ? (100 * m.load.lost) / m.load.sent : 0;
        rec.sample(RATE, s.target.name, rate);
        rec.sample(LOSS, s.target.name, loss);
        rec.sample(P99, s.target.name, m.load.histogram.percentile(99) / 1000);
        recordRun(rec, s.target.name, RATE, r, m, { queriesPerSecond: rate, sent: m.load.sent, lost: m.load.lost });
      });
    } finally {
      await closeBackends(backends);
    }
    return rec;
  },
};

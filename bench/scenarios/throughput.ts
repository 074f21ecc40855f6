/** tcp-throughput: bulk bytes one way (iperf3's measure), 1 and 8 streams up, 1 stream down; Gbit/s at the receiver. */
import { startBackends, closeBackends, type Backend } from '../backends/control.js';
import { Recorder } from '../report/model.js';
import { eachTarget, label, measure, recordRun, serviceFor, type BenchContext, type Started } from './context.js';
import type { Scenario } from './index.js';

const UP1 = 'bulk upload, 1 stream';
const UP8 = 'bulk upload, 8 streams';
const DOWN1 = 'bulk download, 1 stream';

const gbits = (bytes: number, ms: number): number => (bytes * 8) / (ms / 1000) / 1e9;

export const tcpThroughput: Scenario = {
  name: 'tcp-throughput',
  title: 'TCP bulk throughput',
  async run(ctx: BenchContext): Promise<Recorder> {
    const rec = new Recorder(this.name, this.title);
    for (const f of [UP1, UP8, DOWN1]) rec.figure(f, 'Gbit/s', 'higher');
    const [sink] = await startBackends('sink', 1);
    let source: Backend | undefined;
    try {
      [source] = await startBackends('source', 1);
      const services = [
        serviceFor('up', [sink!]),
        serviceFor('down', [source!]),
      ];
      const sinkBytes = async (): Promise<{ bytes: number; at: number }> => {
        const s = await sink!.stats();
        return { bytes: s.bytesIn, at: s.at };
      };
      const job = (service: string, s: Started, streams: number, direction: 'up' | 'down') => (_: number, startAt: number) => ({
        kind: 'stream' as const,
        target: s.running.address(service),
        startAt,
        warmupMs: ctx.warmupMs,
        durationMs: ctx.measureMs,
        streams,
        direction,
      });
      await eachTarget(ctx, rec, services, async (s, r) => {
        const total = ctx.warmupMs + ctx.measureMs;
        for (const [figure, streams, shards] of [
          [UP1, 1, 1],
          [UP8, 8, 2],
        ] as const) {
          ctx.progress.phase(label(ctx, rec, s, figure, r), total);
          const m = await measure(s.running, shards, job('up', s, streams / shards, 'up'), { atEdge: sinkBytes, backends: [sink!] });
          const [a, b] = m.edges as [{ bytes: number; at: number }, { bytes: number; at: number }];
          const value = gbits(b.bytes - a.bytes, b.at - a.at);
          rec.sample(figure, s.target.name, value);
          recordRun(rec, s.target.name, figure, r, m, { gbits: value });
        }
        ctx.progress.phase(label(ctx, rec, s, DOWN1, r), total);
        const m = await measure(s.running, 1, job('down', s, 1, 'down'), { backends: [source!] });
        const value = gbits(m.load.bytes, m.load.windowMs);
        rec.sample(DOWN1, s.target.name, value);
        recordRun(rec, s.target.name, DOWN1, r, m, { gbits: value });
      });
    } finally {
      await closeBackends([sink!, ...(source ? [source] : [])]);
    }
    return rec;
  },
};

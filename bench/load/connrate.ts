/** Closed loop of new connections: connect, one request, the whole response, close; `concurrency` loops at once. */
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { REQUEST_CLOSE, RESPONSE_LENGTH } from '../backends/protocol.js';
import { Histogram } from '../lib/histogram.js';
import { now } from '../lib/clock.js';
import type { ConnRateJob, JobResult } from './jobs.js';
import { Window, countError, delayUntil } from './window.js';

const READ_BUFFER = Buffer.allocUnsafe(16 * 1024);

export async function runConnRate(job: ConnRateJob): Promise<JobResult> {
  const window = new Window(job);
  const histogram = new Histogram();
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  let ops = 0;
  let running = true;
  let active = 0;

  const one = (): void => {
    if (!running) {
      active--;
      return;
    }
    const started = performance.now();
    let got = 0;
    let done = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      socket.destroy();
      if (window.has(now())) {
        if (err === undefined) {
          ops++;
          histogram.record((performance.now() - started) * 1000);
        } else {
          errors++;
          countError(errorKinds, err);
        }
      }
      // After a failure, pause a moment so a refusing target does not turn this into a busy loop.
      if (err === undefined) one();
      else setTimeout(one, 1);
    };
    const socket = connect({
      host: job.target.host,
      port: job.target.port,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number) => {
          got += n;
          if (got >= RESPONSE_LENGTH) finish();
          return true;
        },
      },
    });
    socket.setNoDelay(true);
    socket.setTimeout(job.timeoutMs, () => finish(new Error('timeout')));
    socket.once('connect', () => socket.write(REQUEST_CLOSE));
    socket.on('error', finish);
    socket.once('close', () => finish(new Error('closed-early')));
  };

  await delayUntil(job.startAt);
  for (let i = 0; i < job.concurrency; i++) {
    active++;
    one();
  }
  await window.run();
  running = false;
  const deadline = now() + job.timeoutMs + 500;
  while (active > 0 && now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return { windowMs: window.measuredMs, cpu: window.cpu, ops, bytes: 0, errors, errorKinds, histogram: histogram.toJSON() };
}

/** Closed loop over kept-alive connections: each sends its next request when the last response is complete. */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { REQUEST_KEEPALIVE, RESPONSE_LENGTH } from '../backends/protocol.js';
import { Histogram } from '../lib/histogram.js';
import { now } from '../lib/clock.js';
import type { JobResult, KeepAliveJob } from './jobs.js';
import { Window, countError, delayUntil } from './window.js';

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

interface Tally {
  window: Window;
  histogram: Histogram;
  ops: number;
  errors: number;
  errorKinds: Record<string, number>;
  running: boolean;
}

class Client {
  readonly socket: Socket;
  #pending = 0;
  #sentAt = 0;

  constructor(job: KeepAliveJob, tally: Tally, onConnect: () => void) {
    this.socket = connect({
      host: job.target.host,
      port: job.target.port,
      onread: { buffer: READ_BUFFER, callback: (n: number) => this.#onRead(n, tally) },
    });
    this.socket.setNoDelay(true);
    this.socket.once('connect', onConnect);
    this.socket.on('error', (err) => {
      tally.errors++;
      countError(tally.errorKinds, err);
      onConnect();
    });
  }

  send(): void {
    this.#sentAt = performance.now();
    this.socket.write(REQUEST_KEEPALIVE);
  }

  #onRead(n: number, tally: Tally): boolean {
    this.#pending += n;
    while (this.#pending >= RESPONSE_LENGTH) {
      this.#pending -= RESPONSE_LENGTH;
      if (tally.window.has(now())) {
        tally.ops++;
        tally.histogram.record((performance.now() - this.#sentAt) * 1000);
      }
      if (tally.running) this.send();
    }
    return true;
  }
}

export async function runKeepAlive(job: KeepAliveJob): Promise<JobResult> {
  const tally: Tally = { window: new Window(job), histogram: new Histogram(), ops: 0, errors: 0, errorKinds: {}, running: false };
  const clients: Client[] = [];
  await Promise.all(
    Array.from({ length: job.connections }, () => new Promise<void>((resolve) => clients.push(new Client(job, tally, resolve)))),
  );
  await delayUntil(job.startAt);
  tally.running = true;
  for (const c of clients) if (!c.socket.destroyed) c.send();
  await tally.window.run();
  tally.running = false;
  for (const c of clients) c.socket.destroy();
  const { window, histogram, ops, errors, errorKinds } = tally;
  return { windowMs: window.measuredMs, cpu: window.cpu, ops, bytes: 0, errors, errorKinds, histogram: histogram.toJSON() };
}

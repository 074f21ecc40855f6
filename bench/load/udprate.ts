/**
 * UDP request/response (dnsperf's model): each socket keeps `window` queries
 * outstanding; an answer or a timeout frees the slot for the next query. A
 * query unanswered within `timeoutMs` is lost.
 */
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { dnsId, dnsQuery, setQueryId } from '../backends/protocol.js';
import { Histogram } from '../lib/histogram.js';
import { now } from '../lib/clock.js';
import type { JobResult, UdpRateJob } from './jobs.js';
import { Window, countError, delayUntil } from './window.js';

interface Tally {
  window: Window;
  histogram: Histogram;
  ops: number;
  sent: number;
  lost: number;
  errors: number;
  errorKinds: Record<string, number>;
  running: boolean;
}

/** One socket and its window of slots; slot = id mod window, so an answer finds its slot without a map. */
class Querier {
  readonly socket: Socket;
  readonly #mask: number;
  readonly #sentAt: Float64Array;
  readonly #expect: Int32Array;
  /** A buffer per slot: a slot's buffer is rewritten only after its last send has been answered or timed out. */
  readonly #queries: Buffer[];
  readonly #tally: Tally;
  readonly #timeoutMs: number;

  constructor(job: UdpRateJob, tally: Tally) {
    this.#mask = job.window - 1;
    this.#sentAt = new Float64Array(job.window);
    this.#expect = new Int32Array(job.window).fill(-1);
    this.#queries = Array.from({ length: job.window }, () => dnsQuery());
    this.#tally = tally;
    this.#timeoutMs = job.timeoutMs;
    this.socket = createSocket('udp4');
    this.socket.on('message', (msg) => this.#onAnswer(msg));
    this.socket.on('error', (err) => {
      tally.errors++;
      countError(tally.errorKinds, err);
    });
    this.socket.connect(job.target.port, job.target.host);
  }

  start(): void {
    for (let slot = 0; slot <= this.#mask; slot++) this.#send(slot, slot);
  }

  /** Frees slots whose query has waited past the timeout. */
  sweep(): void {
    const limit = performance.now() - this.#timeoutMs;
    for (let slot = 0; slot <= this.#mask; slot++) {
      if (this.#expect[slot]! < 0 || this.#sentAt[slot]! > limit) continue;
      if (this.#tally.window.has(now())) this.#tally.lost++;
      this.#next(slot);
    }
  }

  #onAnswer(msg: Buffer): void {
    const id = dnsId(msg);
    const slot = id & this.#mask;
    if (id < 0 || this.#expect[slot] !== id) return; // late answer to a query already counted lost
    const t = this.#tally;
    if (t.window.has(now())) {
      t.ops++;
      t.histogram.record((performance.now() - this.#sentAt[slot]!) * 1000);
    }
    this.#next(slot);
  }

  #next(slot: number): void {
    const id = (this.#expect[slot]! + this.#mask + 1) & 0xffff;
    this.#expect[slot] = -1;
    if (this.#tally.running) this.#send(slot, id);
  }

  #send(slot: number, id: number): void {
    const query = this.#queries[slot]!;
    setQueryId(query, id);
    this.#expect[slot] = id;
    this.#sentAt[slot] = performance.now();
    if (this.#tally.window.has(now())) this.#tally.sent++;
    this.socket.send(query);
  }
}

export async function runUdpRate(job: UdpRateJob): Promise<JobResult> {
  if (job.window < 1 || (job.window & (job.window - 1)) !== 0) throw new Error('udprate window must be a power of two');
  const tally: Tally = {
    window: new Window(job),
    histogram: new Histogram(),
    ops: 0,
    sent: 0,
    lost: 0,
    errors: 0,
    errorKinds: {},
    running: false,
  };
  const queriers = Array.from({ length: job.sockets }, () => new Querier(job, tally));
  await Promise.all(queriers.map((q) => new Promise((resolve) => q.socket.once('connect', resolve))));
  for (const q of queriers) {
    try {
      q.socket.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // capped by rmem_max; the default still works
    }
  }
  await delayUntil(job.startAt);
  tally.running = true;
  for (const q of queriers) q.start();
  const sweeper = setInterval(() => {
    for (const q of queriers) q.sweep();
  }, Math.max(5, Math.min(50, job.timeoutMs / 4)));
  await tally.window.run();
  tally.running = false;
  clearInterval(sweeper);
  for (const q of queriers) q.socket.close();
  const { window, histogram, ops, sent, lost, errors, errorKinds } = tally;
  return { windowMs: window.measuredMs, cpu: window.cpu, ops, bytes: 0, errors, errorKinds, histogram: histogram.toJSON(), sent, lost };
}

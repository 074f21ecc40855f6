/**
 * Open loop at a fixed rate, free of coordinated omission: request k is due at
 * startAt + k/rate whatever happened before it, is sent (pipelined) on
 * connection k mod N, and its latency runs from that due instant, so a slow
 * response delays nothing and hides nothing (as wrk2 measures).
 */
import { connect, type Socket } from 'node:net';
import { REQUEST_KEEPALIVE, RESPONSE_LENGTH } from '../backends/protocol.js';
import { Histogram } from '../lib/histogram.js';
import { now, sleep } from '../lib/clock.js';
import type { JobResult, OpenLoopJob } from './jobs.js';
import { Window, countError, delayUntil } from './window.js';

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

class Conn {
  readonly socket: Socket;
  /** Due instants of the requests sent and not yet answered, oldest first. */
  readonly due: number[] = [];
  head = 0;
  #pending = 0;

  constructor(job: OpenLoopJob, onResponse: (due: number) => void, onError: (err: Error) => void, onConnect: () => void) {
    this.socket = connect({
      host: job.target.host,
      port: job.target.port,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number) => {
          this.#pending += n;
          while (this.#pending >= RESPONSE_LENGTH && this.head < this.due.length) {
            this.#pending -= RESPONSE_LENGTH;
            onResponse(this.due[this.head++]!);
          }
          if (this.head > 1024 && this.head * 2 > this.due.length) {
            this.due.splice(0, this.head);
            this.head = 0;
          }
          return true;
        },
      },
    });
    this.socket.setNoDelay(true);
    this.socket.once('connect', onConnect);
    this.socket.on('error', (err) => {
      onError(err);
      onConnect();
    });
  }

  get outstanding(): number {
    return this.due.length - this.head;
  }
}

export async function runOpenLoop(job: OpenLoopJob): Promise<JobResult> {
  const window = new Window(job);
  const histogram = new Histogram();
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  let ops = 0;
  let sent = 0;
  let sentInWindow = 0;
  const onResponse = (due: number): void => {
    if (!window.has(due)) return;
    ops++;
    histogram.record((now() - due) * 1000);
  };
  const onError = (err: Error): void => {
    errors++;
    countError(errorKinds, err);
  };
  const conns: Conn[] = [];
  await Promise.all(
    Array.from({ length: job.connections }, () => new Promise<void>((resolve) => conns.push(new Conn(job, onResponse, onError, resolve)))),
  );

  const interval = 1000 / job.rate;
  const dispatch = (): void => {
    const t = now();
    for (;;) {
      const due = job.startAt + sent * interval;
      if (due > t || due >= window.end) return;
      const conn = conns[sent % conns.length]!;
      sent++;
      if (window.has(due)) sentInWindow++;
      if (conn.socket.destroyed) {
        errors++;
        errorKinds['connection-lost'] = (errorKinds['connection-lost'] ?? 0) + 1;
        continue;
      }
      conn.due.push(due);
      conn.socket.write(REQUEST_KEEPALIVE);
    }
  };
  await delayUntil(job.startAt);
  const ticker = setInterval(dispatch, 1);
  await window.run();
  clearInterval(ticker);

  // Stragglers: wait for them, bounded; the unanswered count as lost at the latency they reached.
  const deadline = now() + job.timeoutMs;
  while (conns.some((c) => c.outstanding > 0 && !c.socket.destroyed) && now() < deadline) await sleep(5);
  let lost = 0;
  const giveUp = now();
  for (const c of conns) {
    for (let i = c.head; i < c.due.length; i++) {
      const due = c.due[i]!;
      if (!window.has(due)) continue;
      lost++;
      histogram.record((giveUp - due) * 1000);
    }
    c.socket.destroy();
  }
  return {
    windowMs: window.measuredMs,
    cpu: window.cpu,
    ops,
    bytes: 0,
    errors,
    errorKinds,
    histogram: histogram.toJSON(),
    sent: sentInWindow,
    lost,
  };
}

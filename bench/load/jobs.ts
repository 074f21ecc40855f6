/**
 * What the parent asks a generator process to do, and what it answers.
 * Every job starts at an absolute instant (`startAt`, epoch ms) so several
 * generator processes start together, and measures only inside its window
 * [startAt + warmupMs, startAt + warmupMs + durationMs).
 */
import type { HistogramData } from '../lib/histogram.js';

export interface TargetAddress {
  host: string;
  port: number;
}

interface JobBase {
  target: TargetAddress;
  startAt: number;
  warmupMs: number;
  durationMs: number;
}

/** Bulk bytes one way over `streams` connections: up = client → sink, down = source → client. */
export interface StreamJob extends JobBase {
  kind: 'stream';
  streams: number;
  direction: 'up' | 'down';
}

/** Closed loop: connect, one request, response, close; `concurrency` loops at once. */
export interface ConnRateJob extends JobBase {
  kind: 'connrate';
  concurrency: number;
  timeoutMs: number;
}

/** Closed loop over kept-alive connections: one request outstanding per connection (wrk's model). */
export interface KeepAliveJob extends JobBase {
  kind: 'keepalive';
  connections: number;
}

/** Open loop: requests sent on a fixed timetable (pipelined), latency measured from the scheduled instant. */
export interface OpenLoopJob extends JobBase {
  kind: 'openloop';
  connections: number;
  /** Requests per second from this generator process. */
  rate: number;
  timeoutMs: number;
}

/** UDP request/response: `sockets` sockets, each keeping `window` queries outstanding (dnsperf's model). */
export interface UdpRateJob extends JobBase {
  kind: 'udprate';
  sockets: number;
  /** A power of two. */
  window: number;
  timeoutMs: number;
}

/**
 * Open loop of whole operations at a fixed rate, each recorded: TCP = new connection,
 * one request, response, close; UDP = a query from a new source port. For switchover runs.
 */
export interface OpsJob extends JobBase {
  kind: 'ops';
  protocol: 'tcp' | 'udp';
  rate: number;
  timeoutMs: number;
}

/** Opens `connections` kept-alive connections (one exchange each), reports, holds them until released. */
export interface IdleJob extends JobBase {
  kind: 'idle';
  connections: number;
  concurrency: number;
  timeoutMs: number;
}

export type Job = StreamJob | ConnRateJob | KeepAliveJob | OpenLoopJob | UdpRateJob | OpsJob | IdleJob;

export const OP_OK = 0;
export const OP_FAILED = 1;
export const OP_TIMEOUT = 2;
/** Fields per operation record in `records`: scheduled start, end (epoch ms), status, member index (-1 unknown). */
export const RECORD_FIELDS = 4;

export interface JobResult {
  /** The measured window, ms (from the generator's own clock). */
  windowMs: number;
  /** CPU this generator process used in the window, as a fraction of one core. */
  cpu: number;
  /** Operations (responses, connections, replies) completed in the window. */
  ops: number;
  /** Bytes received (down) or written (up) in the window. */
  bytes: number;
  errors: number;
  errorKinds: Record<string, number>;
  histogram?: HistogramData;
  /** udprate / openloop: requests sent in the window, and those never answered in time. */
  sent?: number;
  lost?: number;
  /** ops: RECORD_FIELDS numbers per operation. */
  records?: Float64Array;
  /** idle: connections established and held. */
  established?: number;
}

export type ToGenerator = { type: 'run'; job: Job } | { type: 'release' };
export type FromGenerator =
  | { type: 'ready' }
  | { type: 'holding'; established: number; errors: number }
  | { type: 'result'; result: JobResult }
  | { type: 'error'; message: string };

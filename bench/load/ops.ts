/**
 * Whole operations at a fixed rate, each recorded (for switchover runs): TCP =
 * a new connection, one request, the response, close; UDP = one query from a
 * new source port (a new session at the balancer). Operation k is due at
 * startAt + k/rate; its latency runs from that instant.
 */
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { REQUEST_CLOSE, RESPONSE_LENGTH, dnsAnswerIndex, dnsId, dnsQuery, setQueryId, tagIndex } from '../backends/protocol.js';
import { Histogram } from '../lib/histogram.js';
import { now, sleep } from '../lib/clock.js';
import { OP_FAILED, OP_OK, OP_TIMEOUT, RECORD_FIELDS, type JobResult, type OpsJob } from './jobs.js';
import { Window, countError, delayUntil } from './window.js';

type Done = (status: number, member: number, err?: unknown) => void;

function tcpOp(job: OpsJob, done: Done): void {
  const chunks: Buffer[] = [];
  let got = 0;
  let finished = false;
  const finish = (status: number, member: number, err?: unknown): void => {
    if (finished) return;
    finished = true;
    socket.destroy();
    done(status, member, err);
  };
  const socket = connect({ host: job.target.host, port: job.target.port });
  socket.setNoDelay(true);
  socket.setTimeout(job.timeoutMs, () => finish(OP_TIMEOUT, -1, new Error('timeout')));
  socket.once('connect', () => socket.write(REQUEST_CLOSE));
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    got += chunk.length;
    if (got < RESPONSE_LENGTH) return;
    const all = chunks.length === 1 ? chunk : Buffer.concat(chunks);
    finish(OP_OK, tagIndex(all.toString('latin1', RESPONSE_LENGTH - 4, RESPONSE_LENGTH)));
  });
  socket.on('error', (err) => finish(OP_FAILED, -1, err));
  socket.once('close', () => finish(OP_FAILED, -1, new Error(got > 0 ? 'short-response' : 'closed-early')));
}

let nextId = 1;

function udpOp(job: OpsJob, query: Buffer, done: Done): void {
  const id = nextId++ & 0xffff;
  let finished = false;
  const socket = createSocket('udp4');
  const finish = (status: number, member: number, err?: unknown): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.close();
    done(status, member, err);
  };
  const timer = setTimeout(() => finish(OP_TIMEOUT, -1, new Error('timeout')), job.timeoutMs);
  socket.on('message', (msg) => {
    if (dnsId(msg) === id) finish(OP_OK, dnsAnswerIndex(msg));
  });
  socket.on('error', (err) => finish(OP_FAILED, -1, err));
  // Each op has its own buffer: the send may still be queued when the next op starts.
  const q = Buffer.from(query);
  setQueryId(q, id);
  socket.send(q, job.target.port, job.target.host);
}

export async function runOps(job: OpsJob): Promise<JobResult> {
  const window = new Window(job);
  const histogram = new Histogram();
  const errorKinds: Record<string, number> = {};
  const total = Math.ceil(((job.warmupMs + job.durationMs) * job.rate) / 1000);
  const records = new Float64Array(total * RECORD_FIELDS).fill(-1);
  const query = dnsQuery();
  let errors = 0;
  let ops = 0;
  let started = 0;
  let settled = 0;
  const interval = 1000 / job.rate;

  const launch = (k: number, due: number): void => {
    const done: Done = (status, member, err) => {
      const end = now();
      const r = k * RECORD_FIELDS;
      records[r] = due;
      records[r + 1] = end;
      records[r + 2] = status;
      records[r + 3] = member;
      settled++;
      if (!window.has(due)) return;
      if (status === OP_OK) {
        ops++;
        histogram.record((end - due) * 1000);
      } else {
        errors++;
        countError(errorKinds, err);
      }
    };
    if (job.protocol === 'tcp') tcpOp(job, done);
    else udpOp(job, query, done);
  };
  const dispatch = (): void => {
    const t = now();
    while (started < total) {
      const due = job.startAt + started * interval;
      if (due > t) return;
      launch(started++, due);
    }
  };

  await delayUntil(job.startAt);
  const ticker = setInterval(dispatch, 1);
  await window.run();
  clearInterval(ticker);
  dispatch();
  const deadline = now() + job.timeoutMs + 1000;
  while (settled < started && now() < deadline) await sleep(5);
  return {
    windowMs: window.measuredMs,
    cpu: window.cpu,
    ops,
    bytes: 0,
    errors,
    errorKinds,
    histogram: histogram.toJSON(),
    sent: started,
    records: records.subarray(0, started * RECORD_FIELDS),
  };
}

/**
 * Idle connections: open `connections` (at most `concurrency` opening at once),
 * one request/response on each so the path to the backend exists, then hold
 * them without traffic until the parent releases them.
 */
import { connect, type Socket } from 'node:net';
import { REQUEST_KEEPALIVE, RESPONSE_LENGTH } from '../backends/protocol.js';
import { now } from '../lib/clock.js';
import type { IdleJob, JobResult } from './jobs.js';
import { countError, delayUntil } from './window.js';

const READ_BUFFER = Buffer.allocUnsafe(16 * 1024);

function openOne(job: IdleJob): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const socket = connect({
      host: job.target.host,
      port: job.target.port,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number) => {
          got += n;
          if (got >= RESPONSE_LENGTH) {
            socket.setTimeout(0);
            resolve(socket);
          }
          return true;
        },
      },
    });
    socket.setTimeout(job.timeoutMs, () => {
      socket.destroy();
      reject(new Error('timeout'));
    });
    socket.once('connect', () => socket.write(REQUEST_KEEPALIVE));
    socket.on('error', reject);
    socket.once('close', () => reject(new Error('closed')));
  });
}

/** Opens and holds; `hold` is called with the count once all are open, and resolves when released. */
export async function runIdle(job: IdleJob, hold: (established: number, errors: number) => Promise<void>): Promise<JobResult> {
  await delayUntil(job.startAt);
  const started = now();
  const cpuStart = process.cpuUsage();
  const held: Socket[] = [];
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < job.connections) {
      next++;
      try {
        const socket = await openOne(job);
        socket.on('error', () => {});
        held.push(socket);
      } catch (err) {
        errors++;
        countError(errorKinds, err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency, job.connections) }, worker));
  const cpu = process.cpuUsage(cpuStart);
  const windowMs = now() - started;
  const established = held.filter((s) => !s.destroyed).length;
  await hold(established, errors);
  for (const s of held) s.destroy();
  return { windowMs, cpu: (cpu.user + cpu.system) / 1000 / windowMs, ops: established, bytes: 0, errors, errorKinds, established };
}

/** Bulk bytes one way. Up: write a reused block as fast as the path takes it. Down: read into one reused buffer. */
import { connect, type Socket } from 'node:net';
import { now } from '../lib/clock.js';
import type { JobResult, StreamJob } from './jobs.js';
import { Window, countError, delayUntil } from './window.js';

const BLOCK = Buffer.alloc(128 * 1024, 0x62);
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export async function runStream(job: StreamJob): Promise<JobResult> {
  const window = new Window(job);
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  let bytes = 0;
  let stopped = false;
  const sockets: Socket[] = [];

  const onBytes = (n: number): void => {
    if (window.has(now())) bytes += n;
  };

  await Promise.all(
    Array.from({ length: job.streams }, () =>
      new Promise<void>((resolve, reject) => {
        const socket = connect({
          host: job.target.host,
          port: job.target.port,
          onread: {
            buffer: READ_BUFFER,
            callback: (n: number) => {
              if (job.direction === 'down') onBytes(n);
              return true;
            },
          },
        });
        sockets.push(socket);
        socket.once('connect', () => resolve());
        socket.once('error', reject);
      }),
    ),
  ).catch((err) => {
    errors++;
    countError(errorKinds, err);
  });
  for (const socket of sockets) {
    socket.on('error', (err) => {
      if (stopped) return;
      errors++;
      countError(errorKinds, err);
    });
  }

  await delayUntil(job.startAt);
  if (job.direction === 'up') {
    for (const socket of sockets) {
      const pump = (): void => {
        while (!stopped && !socket.destroyed) {
          const ok = socket.write(BLOCK);
          onBytes(BLOCK.length);
          if (!ok) return;
        }
      };
      socket.on('drain', pump);
      pump();
    }
  }
  await window.run();
  stopped = true;
  for (const socket of sockets) socket.destroy();
  return { windowMs: window.measuredMs, cpu: window.cpu, ops: 0, bytes, errors, errorKinds };
}

/**
 * A load generator process. The parent forks several (so the load is not held
 * to one core), sends each one job, and gets back one result. Exits when the
 * parent goes away.
 */
import type { FromGenerator, JobResult, ToGenerator } from './jobs.js';
import { runStream } from './stream.js';
import { runKeepAlive } from './keepalive.js';
import { runOpenLoop } from './openloop.js';
import { runConnRate } from './connrate.js';
import { runUdpRate } from './udprate.js';
import { runOps } from './ops.js';
import { runIdle } from './idle.js';

const send = (msg: FromGenerator): void => {
  if (process.connected) process.send!(msg);
};

let release: (() => void) | undefined;

async function run(msg: Extract<ToGenerator, { type: 'run' }>): Promise<JobResult> {
  const job = msg.job;
  switch (job.kind) {
    case 'stream':
      return runStream(job);
    case 'keepalive':
      return runKeepAlive(job);
    case 'openloop':
      return runOpenLoop(job);
    case 'connrate':
      return runConnRate(job);
    case 'udprate':
      return runUdpRate(job);
    case 'ops':
      return runOps(job);
    case 'idle':
      return runIdle(job, (established, errors) => {
        send({ type: 'holding', established, errors });
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      });
  }
}

process.on('disconnect', () => process.exit(0));
process.on('message', (msg: ToGenerator) => {
  if (msg.type === 'release') {
    release?.();
    return;
  }
  run(msg).then(
    (result) => send({ type: 'result', result }),
    (err: Error) => send({ type: 'error', message: err?.stack ?? String(err) }),
  );
});
send({ type: 'ready' });

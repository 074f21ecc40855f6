/** Open file descriptors of processes, read from /proc (Linux). */
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Open file descriptors per process (pid: count). */
export function descriptors(pids: number[]): Record<number, number> {
  return Object.fromEntries(pids.map((pid) => [pid, readdirSync(`/proc/${pid}/fd`).length]));
}

/**
 * The descriptors once two reads 100 ms apart agree: a connection just answered may still be
 * closing, and the test runner's loader opens and closes a few of its own after start-up.
 */
export async function steadyDescriptors(pids: number[]): Promise<Record<number, number>> {
  let last = descriptors(pids);
  for (let i = 0; i < 30; i++) {
    await sleep(100);
    const now = descriptors(pids);
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
  throw new Error('the descriptor counts did not settle');
}

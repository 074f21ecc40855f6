/**
 * One clock for every process of a bench run: milliseconds since the epoch with
 * sub-millisecond resolution, so the parent, the generators and the status
 * poller can compare instants (a fault, a detection, an operation's start).
 */
import { performance } from 'node:perf_hooks';

export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Resolves at an absolute instant (epoch ms); timer resolution is about a millisecond. */
export function sleepUntil(at: number): Promise<void> {
  return sleep(at - now());
}

/** Waits until `test` returns true, polling every `everyMs`; false when `timeoutMs` passes first. */
export async function waitFor(test: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = now() + timeoutMs;
  for (;;) {
    if (await test()) return true;
    if (now() >= deadline) return false;
    await sleep(everyMs);
  }
}

/** The measurement window of a job, and the generator's own CPU use inside it. */
import { now } from '../lib/clock.js';
import type { Job } from './jobs.js';

export class Window {
  readonly start: number;
  readonly end: number;
  #cpuStart: NodeJS.CpuUsage | undefined;
  #cpuUsed = 0;
  #openedAt = 0;
  #closedAt = 0;

  constructor(job: Job) {
    this.start = job.startAt + job.warmupMs;
    this.end = this.start + job.durationMs;
  }

  /** True while `t` (epoch ms) lies in the window. */
  has(t: number): boolean {
    return t >= this.start && t < this.end;
  }

  /** Resolves when the window opens and closes, sampling CPU at both edges. */
  async run(): Promise<void> {
    await delayUntil(this.start);
    this.#openedAt = now();
    this.#cpuStart = process.cpuUsage();
    await delayUntil(this.end);
    const used = process.cpuUsage(this.#cpuStart);
    this.#closedAt = now();
    this.#cpuUsed = (used.user + used.system) / 1000;
  }

  get measuredMs(): number {
    return this.#closedAt - this.#openedAt;
  }

  /** CPU used in the window as a fraction of one core. */
  get cpu(): number {
    return this.measuredMs > 0 ? this.#cpuUsed / this.measuredMs : 0;
  }
}

export function delayUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - now())));
}

export function countError(kinds: Record<string, number>, err: unknown): void {
  const code = (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? String(err);
  kinds[code] = (kinds[code] ?? 0) + 1;
}

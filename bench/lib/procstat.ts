/** Resident memory and CPU time of a process tree, read from /proc (Linux). */
import { readFileSync } from 'node:fs';
import { processTree } from './children.js';

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** VmRSS in KiB of one process; 0 when it is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Summed VmRSS in KiB of a process and its descendants. */
export function treeRssKiB(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + rssKiB(p), 0);
}

/** User + system CPU seconds used so far by one process. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/**
 * Samples CPU per PID of a tree so that a window's use can be computed even when
 * processes come and go (a PID seen only at the end counts from zero).
 */
export function cpuSample(pid: number): Map<number, number> {
  const sample = new Map<number, number>();
  for (const p of processTree(pid)) sample.set(p, cpuSeconds(p));
  return sample;
}

export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [p, s] of after) total += s - (before.get(p) ?? 0);
  return total;
}

/** Resident memory, CPU time and open sockets of a process tree, read from /proc (Linux). */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { processTree } from './children.js';

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** A `Name:   N kB` line of a /proc file, in KiB; 0 when the process is gone. */
function kibLine(path: string, name: RegExp): number {
  try {
    const m = name.exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** VmRSS in KiB of one process; 0 when it is gone. */
export function rssKiB(pid: number): number {
  return kibLine(`/proc/${pid}/status`, /VmRSS:\s+(\d+) kB/);
}

/**
 * Proportional set size in KiB of one process: a page it shares with other processes counts its
 * share. Summed over processes that map the same binary (a Node.js primary and its workers,
 * NGINX's master and workers), those pages count once, where summed VmRSS counts them once per
 * process. 0 when the process is gone.
 */
export function pssKiB(pid: number): number {
  return kibLine(`/proc/${pid}/smaps_rollup`, /^Pss:\s+(\d+) kB/m);
}

/** Summed VmRSS in KiB of a process and its descendants. */
export function treeRssKiB(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + rssKiB(p), 0);
}

/** Summed PSS in KiB of a process and its descendants. */
export function treePssKiB(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + pssKiB(p), 0);
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

/** Open sockets per process of a tree: the entries of /proc/PID/fd that link to a socket. */
export function socketsPerProcess(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of processTree(pid)) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    let n = 0;
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${p}/fd/${fd}`).startsWith('socket:')) n++;
      } catch {
        // Closed between the listing and the read.
      }
    }
    out.set(p, n);
  }
  return out;
}

/**
 * The proxied connections each process of a proxy took on between two samples of
 * socketsPerProcess (two sockets each: the client's and the member's), busiest first.
 */
export function connectionsPerProcess(before: Map<number, number>, during: Map<number, number>): number[] {
  return [...during]
    .map(([p, n]) => Math.max(0, Math.round((n - (before.get(p) ?? 0)) / 2)))
    .sort((a, b) => b - a);
}

/**
 * Every process the bench starts is registered here, so that an exit, a
 * SIGINT or a crash leaves nothing behind. Processes are ended by PID only:
 * a child and the processes it started itself (cluster workers, NGINX
 * workers), found through /proc.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let installed = false;

export function track(child: ChildProcess): ChildProcess {
  installCleanup();
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** The PIDs started by `pid`, recursively (children first seen through /proc/PID/task/TID/children). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const tid of tasks) {
      let text = '';
      try {
        text = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of text.split(' ')) {
        const child = Number(c);
        if (child > 0 && !out.includes(child)) {
          out.push(child);
          visit(child);
        }
      }
    }
  };
  visit(pid);
  return out;
}

/** A process and everything it started. */
export function processTree(pid: number): number[] {
  return [pid, ...descendants(pid)];
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs a child and its descendants (the descendants are listed first, while the parent still holds them). */
export function killTree(pid: number): void {
  const tree = processTree(pid);
  for (const p of tree.reverse()) signal(p, 'SIGKILL');
}

/** Ends a child politely (`sig`), then by SIGKILL after `graceMs`; resolves when it has exited. */
export function stopChild(child: ChildProcess, sig: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  const tree = processTree(pid);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      for (const p of tree) signal(p, 'SIGKILL');
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      // Whatever the child started and left behind goes too.
      for (const p of tree.slice(1)) signal(p, 'SIGKILL');
      resolve();
    });
    signal(pid, 'SIGCONT');
    signal(pid, sig);
  });
}

export function killAll(): void {
  for (const child of live) if (child.pid !== undefined) killTree(child.pid);
  live.clear();
}

function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.once('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.stderr.write(`\nbench: ${sig}, children stopped\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

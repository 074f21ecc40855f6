/**
 * Backends as child processes (test/fixtures/backend-server.mjs), for tests that
 * kill, stop and restart members. Each is ended by its PID in teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

const script = fileURLToPath(new URL('../fixtures/backend-server.mjs', import.meta.url));

export interface ChildBackend {
  port: number;
  name: string;
  process: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP: the kernel still accepts connections, the process never answers. */
  stop(): void;
  resume(): void;
}

export async function startChildBackend(name: string, port = 0): Promise<ChildBackend> {
  const child = spawn(process.execPath, [script, '--port', String(port), '--name', name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const portLine = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`backend ${name} did not start`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        clearTimeout(timer);
        resolve(buf.trim());
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`backend ${name} exited with ${code}`));
    });
  });
  const backend: ChildBackend = {
    port: Number(portLine),
    name,
    process: child,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGCONT');
      child.kill(signal);
      await exited;
    },
    stop: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
  };
  return backend;
}

/** Starts one child backend per name, each killed by its PID at the test's teardown. */
export async function childBackends(t: Test, ...names: string[]): Promise<ChildBackend[]> {
  const backends = await Promise.all(names.map((n) => startChildBackend(n)));
  t.teardown(() => Promise.all(backends.map((b) => b.kill())));
  return backends;
}

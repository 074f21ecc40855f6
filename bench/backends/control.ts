/**
 * The parent's handle on one backend child: start, SIGKILL, SIGSTOP/SIGCONT,
 * restart on the same port, read its counters.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track, stopChild, signal } from '../lib/children.js';
import { sleep } from '../lib/clock.js';
import { LOOPBACK } from '../lib/ports.js';
import type { BackendKind, BackendStats } from './handlers.js';
import type { BackendSpec } from './server.js';

const ENTRY = fileURLToPath(new URL('./server.js', import.meta.url));
const START_TIMEOUT_MS = 10_000;

export class Backend {
  readonly kind: BackendKind;
  readonly index: number;
  readonly host: string;
  port = 0;
  #child: ChildProcess | undefined;

  private constructor(kind: BackendKind, index: number, host: string) {
    this.kind = kind;
    this.index = index;
    this.host = host;
  }

  static async start(kind: BackendKind, index: number, host = LOOPBACK): Promise<Backend> {
    const backend = new Backend(kind, index, host);
    await backend.#spawn(0);
    return backend;
  }

  get protocol(): 'tcp' | 'udp' {
    return this.kind === 'dns' ? 'udp' : 'tcp';
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get running(): boolean {
    const c = this.#child;
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  /** SIGKILL, as a crash: the kernel resets its connections. Resolves when it is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signal(child.pid!, 'SIGKILL');
    await gone;
  }

  /** SIGSTOP, as a hung process: connections are still accepted by the kernel but nothing answers. */
  hang(): void {
    if (this.#child?.pid && this.running) signal(this.#child.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.#child?.pid && this.running) signal(this.#child.pid, 'SIGCONT');
  }

  /** Starts it again on the port it had (retrying while the old socket lingers). */
  async restart(): Promise<void> {
    await this.kill();
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      try {
        await this.#spawn(this.port);
        return;
      } catch (err) {
        if (!String((err as Error).message).includes('EADDRINUSE') || Date.now() > deadline) throw err;
        await sleep(20);
      }
    }
  }

  /** Its counters, and when (epoch ms, its own clock) they were read. */
  stats(): Promise<BackendStats & { at: number }> {
    const child = this.#child;
    if (!child || !this.running || !child.connected) return Promise.reject(new Error(`backend ${this.address} is not running`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`backend ${this.address} did not report its stats`)), 5000);
      const onMessage = (msg: { type?: string; stats?: BackendStats; at?: number }): void => {
        if (msg?.type !== 'stats') return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve({ ...msg.stats!, at: msg.at! });
      };
      child.on('message', onMessage);
      child.send({ type: 'stats' });
    });
  }

  async close(): Promise<void> {
    if (this.#child) await stopChild(this.#child, 'SIGKILL');
  }

  #spawn(port: number): Promise<void> {
    const spec: BackendSpec = { kind: this.kind, host: this.host, port, index: this.index };
    const child = track(fork(ENTRY, [JSON.stringify(spec)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`backend ${this.kind} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(err);
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null): void =>
        fail(new Error(`backend ${this.kind} exited (${code ?? sig}) before listening`));
      child.once('exit', onExit);
      child.on('message', (msg: { type?: string; port?: number; message?: string }) => {
        if (msg?.type === 'error') fail(new Error(msg.message));
        if (msg?.type !== 'listening') return;
        clearTimeout(timer);
        child.off('exit', onExit);
        this.port = msg.port!;
        this.#child = child;
        resolve();
      });
    });
  }
}

export async function startBackends(kind: BackendKind, count: number): Promise<Backend[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => Backend.start(kind, i)));
}

export async function closeBackends(backends: Backend[]): Promise<void> {
  await Promise.all(backends.map((b) => b.close()));
}

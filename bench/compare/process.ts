/** Running a proxy under test: its log file, readiness probes, and a clear error with the log's tail when it fails. */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { stopChild, track } from '../lib/children.js';
import { now, sleep } from '../lib/clock.js';
import { dnsId, dnsQuery, setQueryId } from '../backends/protocol.js';

export interface ProxyProcess {
  child: ChildProcess;
  logPath: string;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
}

export function spawnProxy(command: string, args: string[], logPath: string, env: NodeJS.ProcessEnv = process.env): ProxyProcess {
  const fd = openSync(logPath, 'a');
  const child = track(spawn(command, args, { stdio: ['ignore', fd, fd], env }));
  closeSync(fd);
  return {
    child,
    logPath,
    tail(lines = 15) {
      try {
        return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
  };
}

export function tcpReachable(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** One DNS query through; true when it is answered. */
export function dnsReachable(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const id = Math.floor(Math.random() * 0xffff);
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    socket.on('message', (msg) => {
      if (dnsId(msg) === id) done(true);
    });
    socket.on('error', () => done(false));
    const q = dnsQuery();
    setQueryId(q, id);
    socket.send(q, port, host);
  });
}

export interface ReadyOptions {
  /** What the proxy prints when its port was taken (reported as EADDRINUSE, so the caller retries on fresh ports). */
  portTaken: string;
  /** More of what the proxy wrote (an error log of its own), searched and added to the error. */
  diagnostics?: () => string;
  timeoutMs?: number;
}

/**
 * Polls `ready` until true. A proxy that exits or never gets there is killed, and the error
 * carries the log's tail; a port taken under it is reported as EADDRINUSE.
 */
export async function waitReady(proc: ProxyProcess, name: string, ready: () => Promise<boolean>, opts: ReadyOptions): Promise<void> {
  try {
    await poll(proc, name, ready, opts.timeoutMs ?? 30_000);
  } catch (err) {
    await stopChild(proc.child, 'SIGKILL');
    const extra = opts.diagnostics?.() ?? '';
    if ((proc.tail(50) + extra).includes(opts.portTaken)) throw new Error(`EADDRINUSE: ${(err as Error).message}`);
    throw extra ? new Error(`${(err as Error).message}\n${extra}`) : err;
  }
}

async function poll(proc: ProxyProcess, name: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = now() + timeoutMs;
  while (now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${name} exited (${proc.child.exitCode ?? proc.child.signalCode}) while starting:\n${proc.tail()}`);
    }
    if (await ready().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`${name} was not ready within ${timeoutMs} ms:\n${proc.tail()}`);
}

/** Every listener reachable (TCP: accepts; UDP: a query is answered through it). */
export async function listenersReady(services: { protocol: 'tcp' | 'udp'; host: string; port: number }[]): Promise<boolean> {
  for (const s of services) {
    const ok = s.protocol === 'tcp' ? await tcpReachable(s.host, s.port) : await dnsReachable(s.host, s.port);
    if (!ok) return false;
  }
  return true;
}

/** The hard limit on open files a child may raise itself to (from /proc/self/limits). */
export function hardOpenFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const hard = line?.trim().split(/\s+/)[4];
    return hard === 'unlimited' ? 1_048_576 : Number(hard) || 1024;
  } catch {
    return 1024;
  }
}

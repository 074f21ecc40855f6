/**
 * The CLI as users run it: a real child process of dist/cli.js, its JSON log
 * lines collected for bounded waits, and the admin API read over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

export const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export type Line = Record<string, unknown>;

/**
 * The bound for waits on a process starting (the CLI, a restarted worker, a real server and its
 * set-up tools): not a property under test, and seen above 15 s on this 2-core machine with two
 * suites running at once.
 */
export const START_MS = 30_000;

export interface RunningCli {
  child: ChildProcess;
  lines: Line[];
  /** When each line arrived (performance.now()). */
  arrivedAt: WeakMap<Line, number>;
  stderr(): string;
  /** The first line from index `from` on (already here or still to come) that `pred` accepts. */
  waitFor(pred: (l: Line) => boolean, ms?: number, from?: number): Promise<Line>;
}

/** Starts the CLI with `args`; killed (SIGKILL, by PID) at teardown if still running. */
export function runCli(t: Test, args: string[]): RunningCli {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    // A cluster primary's workers see the IPC channel close and leave by themselves.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Line[] = [];
  const arrivedAt = new WeakMap<Line, number>();
  const waiters = new Set<() => void>();
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let parsed: Line;
      try {
        parsed = JSON.parse(line) as Line;
      } catch {
        parsed = { text: line };
      }
      arrivedAt.set(parsed, performance.now());
      lines.push(parsed);
      for (const w of waiters) w();
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const waitFor = (pred: (l: Line) => boolean, ms = 15_000, from = 0) =>
    new Promise<Line>((resolve, reject) => {
      const check = () => {
        const hit = lines.find((l, i) => i >= from && pred(l));
        if (!hit) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching log line within ${ms}ms; stderr: ${stderr}\nlines:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`));
      }, ms);
      if (!check()) waiters.add(check);
    });
  return { child, lines, arrivedAt, stderr: () => stderr, waitFor };
}

/** A temporary folder for config files, removed at teardown. */
export function configDir(t: Test): (name: string, text: string) => string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return (name, text) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
}

export interface StartedCli extends RunningCli {
  /** The first service's bound port. */
  port: number;
  /** The admin API's host:port. */
  admin: string;
  file: string;
}

/** Runs `-c FILE` with this YAML (which must configure `admin`); waits for the service and admin API. */
export async function startCli(t: Test, yaml: string): Promise<StartedCli> {
  const file = configDir(t)('switchyard.yaml', yaml);
  const r = runCli(t, ['-c', file]);
  const listening = await r.waitFor((l) => l['msg'] === 'listening', START_MS);
  const admin = await r.waitFor((l) => l['msg'] === 'admin API listening', START_MS);
  return { ...r, file, port: listenPort(listening), admin: String(admin['listen']) };
}

/** The port of a `listening` line's address. */
export function listenPort(line: Line): number {
  return Number(String(line['listen']).split(':').pop());
}

export function http(method: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

export interface MemberStatus {
  id: string;
  state: string;
  active: number;
}

/** The members of the first service, from GET /status. */
export async function statusMembers(admin: string): Promise<MemberStatus[]> {
  const s = JSON.parse((await http('GET', `http://${admin}/status`)).body) as { services: Array<{ members: MemberStatus[] }> };
  return s.services[0]!.members;
}

/** Polls `ok` (every 10 ms) until it holds; throws after `ms`. */
export async function until(what: string, ms: number, ok: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

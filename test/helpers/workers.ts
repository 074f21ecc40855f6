/**
 * For tests of `workers: 2`: the config the tests of a worker's life (restart, reload) start
 * from, the access lines that tell which worker served a connection, and connections held open.
 */
import { connect, type Socket } from 'node:net';
import { http, until, type Line, type StartedCli } from './cli.js';
import type { ChildBackend } from './child-backend.js';

/** One service `web` on `workers: 2`, checked every 200 ms, with access lines; `extra` is appended as is. */
export function config(members: ChildBackend[], port = 0, extra = ''): string {
  return `workers: 2
admin: 127.0.0.1:0
log: { access: true }
services:
  - name: web
    listen: 127.0.0.1:${port}
    drainTimeout: 2s
    healthCheck: { type: tcp, interval: 200ms, fall: 2, rise: 1, timeout: 500ms }
    members:
${members.map((m) => `      - 127.0.0.1:${m.port}`).join('\n')}
${extra}`;
}

export const access = (r: StartedCli): Line[] => r.lines.filter((l) => l.msg === 'access');
export const memberId = (b: ChildBackend) => `127.0.0.1:${b.port}`;

/** New connections until `enough` holds (bounded by `max`): one GET each, the bodies name the members. */
export async function getUntil(r: StartedCli, max: number, enough: () => boolean): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < max && !enough(); i++) bodies.push((await http('GET', `http://127.0.0.1:${r.port}/`)).body.trim());
  return bodies;
}

/** The workers' PIDs, from their access lines. */
export async function workerPids(r: StartedCli): Promise<number[]> {
  const pids = () => new Set(access(r).map((l) => Number(l.pid)));
  await getUntil(r, 400, () => pids().size === 2);
  await until('access lines from both workers', 2_000, () => pids().size === 2);
  return [...pids()];
}

/** Opens a connection through the proxy; resolves with it once its first bytes echo back, or undefined if it is closed first. */
export function held(port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(3_000, () => s.destroy());
    s.once('data', () => {
      s.setTimeout(0);
      resolve(s);
    });
    s.once('close', () => resolve(undefined));
    s.on('error', () => {});
    s.write('x');
  });
}

/**
 * For tests that must hold in both process models (failover, resources):
 * `workers: 1` (one process checks and serves) and `workers: 2` (the primary
 * checks, two workers serve with the member states it sends them). Each test starts the CLI as users
 * do, and sees the balancer only through what both modes offer alike: the
 * log lines (member state, routing mode, one access line per connection) and
 * the admin API.
 *
 *   for (const mode of MODES) t.test(`... (${mode})`, async (t) => {
 *     const lb = await startInMode(t, mode, yaml);   // yaml: services only
 *     await lb.waitForState('svc', id, 'up');
 *   });
 */
import type { Test } from 'tap';
import { exchange } from './balancer.js';
import { http, startCli, until, type Line, type MemberStatus, type StartedCli } from './cli.js';

export const MODES = ['workers: 1', 'workers: 2'] as const;
export type Mode = (typeof MODES)[number];

/** A TCP check for failover tests: every 100 ms, down on the first failure, up after two passes, no jitter. */
export const FAST_TCP_CHECK = `{ type: tcp, interval: 100ms, fastInterval: 50ms, downInterval: 100ms, timeout: 200ms, rise: 2, fall: 1, jitter: 0% }`;

export interface Transition {
  /** When the line arrived here (performance.now()). */
  at: number;
  source: string;
  detail: string;
}

export interface ServiceStatus {
  mode: string;
  members: Array<MemberStatus & { weight: number; configWeight: number }>;
}

export interface ModeBalancer {
  readonly mode: Mode;
  readonly cli: StartedCli;
  /** The admin API's base URL. */
  readonly admin: string;
  /** A service's bound port (from its `listening` line). */
  port(service: string): Promise<number>;
  /**
   * The member's change to `to`: its last one if it is `to` now, else the next (from the `member state` lines).
   * Like every wait here it returns once the workers have the change too (see `synced`).
   */
  waitForState(service: string, member: string, to: string, ms?: number): Promise<Transition>;
  /** The pool's routing mode becoming `mode` (now, or from the next `routing mode` line). */
  waitForRouting(service: string, mode: string, ms?: number): Promise<number>;
  /**
   * The access lines of these clients' connections (by client address:port, among the lines
   * from index `from` on: a port may have served an earlier client), in their order, once all
   * have come: the proxy logs a connection when it has closed both sides, just after its
   * client saw the reply.
   */
  accessOf(clients: string[], from: number, ms?: number): Promise<Line[]>;
  status(service: string): Promise<ServiceStatus>;
  /** POST /services/S/members/M/ACTION; the HTTP status, once the workers have the change. */
  act(service: string, member: string, action: 'drain' | 'disable' | 'enable'): Promise<number>;
  metrics(): Promise<string>;
}

/** Starts the CLI on `services` YAML (no admin, log or workers keys: this adds them); killed by PID at teardown. */
export async function startInMode(t: Test, mode: Mode, services: string): Promise<ModeBalancer> {
  const cli = await startCli(t, `${mode}\nadmin: 127.0.0.1:0\nlog: { level: info, access: true }\n${services}`);
  const admin = `http://${cli.admin}`;
  const { lines, arrivedAt } = cli;

  /** The last line `pred` accepts, if its `to` is `to`; else the next such line with that `to`. */
  const lastOrNext = async (pred: (l: Line) => boolean, to: string, ms: number, what: string): Promise<Line> => {
    const last = lines.findLast(pred);
    if (last?.['to'] === to) return last;
    try {
      return await cli.waitFor((l) => pred(l) && l['to'] === to, ms, lines.length);
    } catch {
      throw new Error(`${what} did not become ${to} within ${ms}ms (is ${String(lines.findLast(pred)?.['to'] ?? 'unknown')})`);
    }
  };

  const metrics = async () => (await http('GET', `${admin}/metrics`)).body;
  /**
   * The primary logs a change as it sends it to the workers; each applies it one IPC hop later.
   * GET /metrics asks every worker and waits for their answers, which each gives after the
   * messages sent before: past it, the next connection meets the change in any worker.
   */
  const synced = async <T>(value: T): Promise<T> => {
    await metrics();
    return value;
  };

  return {
    mode,
    cli,
    admin,
    async port(service) {
      const l = await cli.waitFor((l) => l['msg'] === 'listening' && l['service'] === service, 5_000);
      return Number(String(l['listen']).split(':').pop());
    },
    async waitForState(service, member, to, ms = 5_000) {
      const is = (l: Line) => l['msg'] === 'member state' && l['service'] === service && l['member'] === member;
      const l = await lastOrNext(is, to, ms, member);
      return synced({ at: arrivedAt.get(l)!, source: String(l['source']), detail: String(l['detail']) });
    },
    async waitForRouting(service, routing, ms = 5_000) {
      const is = (l: Line) => l['msg'] === 'routing mode' && l['service'] === service;
      return synced(arrivedAt.get(await lastOrNext(is, routing, ms, `${service}'s routing mode`))!);
    },
    async accessOf(clients, from, ms = 3_000) {
      const byClient = new Map<string, Line>();
      const wanted = new Set(clients);
      let next = from;
      const collect = () => {
        for (; next < lines.length; next++) {
          const l = lines[next]!;
          if (l['msg'] === 'access' && wanted.has(String(l['client']))) byClient.set(String(l['client']), l);
        }
        return byClient.size === wanted.size;
      };
      await until(`the access lines of ${wanted.size} connections`, ms, collect);
      return clients.map((c) => byClient.get(c)!);
    },
    async status(service) {
      const s = JSON.parse((await http('GET', `${admin}/status`)).body) as { services: Array<ServiceStatus & { name: string }> };
      const found = s.services.find((x) => x.name === service);
      if (!found) throw new Error(`no service ${service} in /status`);
      return found;
    },
    async act(service, member, action) {
      return synced((await http('POST', `${admin}/services/${service}/members/${encodeURIComponent(member)}/${action}`)).status);
    },
    metrics,
  };
}

/** Sends n exchanges, one after another, and counts which member served them (their access lines). */
export async function split(lb: ModeBalancer, port: number, n: number, members: Record<string, string>) {
  const from = lb.cli.lines.length;
  const clients: string[] = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const r = await exchange(port, `x${i}\n`);
    if (!r.ok) failed++;
    if (r.client) clients.push(r.client);
  }
  const servedBy = (await lb.accessOf(clients, from)).map((l) => l['member']);
  return { failed, counts: Object.fromEntries(Object.entries(members).map(([name, id]) => [name, servedBy.filter((m) => m === id).length])) };
}

/** A member's entry in /status; throws if the service has no such member. */
export async function member(lb: ModeBalancer, service: string, id: string) {
  const m = (await lb.status(service)).members.find((x) => x.id === id);
  if (!m) throw new Error(`no member ${id} in /status`);
  return m;
}

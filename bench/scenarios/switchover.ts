/**
 * Switchover: a steady open-loop load of whole operations (new connection +
 * request + response, or a query from a new source port) at a fixed rate; at a
 * known instant one of two members is faulted: SIGKILLed, SIGSTOPped (hung),
 * drained through the admin API, or killed and later restarted (failback).
 * Member states are polled every 10 ms to time the detection.
 */
import { startBackends, closeBackends, type Backend } from '../backends/control.js';
import { now, sleep, sleepUntil } from '../lib/clock.js';
import { Histogram } from '../lib/histogram.js';
import { LOOPBACK } from '../lib/ports.js';
import { OP_OK, RECORD_FIELDS } from '../load/jobs.js';
import { runLoad, type Merged } from '../load/pool.js';
import { Recorder, type Marker, type Timeline } from '../report/model.js';
import { memberKey, type RunningTarget, type Target } from '../compare/target.js';
import { round, serviceFor, startTargets, stopTargets, type BenchContext, type Started } from './context.js';
import type { Scenario } from './index.js';

export type Fault = 'kill' | 'hang' | 'drain' | 'failback';

const SERVICE = 'sw';
const BIN_MS = 10;
const POLL_MS = 10;

/** Polls one member's state; keeps every change with the instant it was seen. */
class StatePoller {
  readonly changes: { t: number; state: string }[] = [];
  errors = 0;
  #stopped = false;
  #done: Promise<void>;

  constructor(running: RunningTarget, member: string) {
    this.#done = (async () => {
      let last = '';
      while (!this.#stopped) {
        try {
          const state = (await running.memberStates!())[SERVICE]?.[member] ?? 'unknown';
          const t = now();
          if (state !== last) this.changes.push({ t, state });
          last = state;
        } catch {
          this.errors++;
        }
        await sleep(POLL_MS);
      }
    })();
  }

  /** The first instant at or after `t` the member was seen in one of `states`. */
  firstAfter(t: number, states: string[]): number | null {
    return this.changes.find((c) => c.t >= t && states.includes(c.state))?.t ?? null;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

interface Op {
  due: number;
  end: number;
  ok: boolean;
  member: number;
}

function ops(load: Merged): Op[] {
  const out: Op[] = [];
  for (const rec of load.records) {
    for (let i = 0; i + RECORD_FIELDS <= rec.length; i += RECORD_FIELDS) {
      if (rec[i]! < 0) continue;
      out.push({ due: rec[i]!, end: rec[i + 1]!, ok: rec[i + 2] === OP_OK, member: rec[i + 3]! });
    }
  }
  return out.sort((a, b) => a.due - b.due);
}

interface Timing {
  preMs: number;
  postMs: number;
  restartAfterMs: number;
}

function timing(ctx: BenchContext, fault: Fault): Timing {
  const preMs = ctx.options.quick ? 1000 : 2000;
  const restartAfterMs = ctx.options.quick ? 1500 : 3000;
  const after = ctx.options.quick ? 2500 : 5000;
  return { preMs, restartAfterMs, postMs: fault === 'failback' ? restartAfterMs + after : after };
}

function faultLabel(fault: Fault, protocol: 'tcp' | 'udp'): string {
  return { kill: 'SIGKILL', hang: 'SIGSTOP', drain: 'admin drain', failback: 'SIGKILL' }[fault] + (protocol === 'udp' ? ' (UDP)' : '');
}

/** The targets in column order, each variant (e.g. switchyard+replay) right after the target it varies. */
function withVariants(targets: Target[], variants: Target[]): Target[] {
  return targets.flatMap((t) => (t.name === 'switchyard' ? [t, ...variants] : [t]));
}

export function switchover(name: string, title: string, protocol: 'tcp' | 'udp', fault: Fault, variants: Target[] = []): Scenario {
  return {
    name,
    title,
    async run(ctx: BenchContext): Promise<Recorder> {
      const rec = new Recorder(name, title);
      const { stallMs, opsRate, opTimeoutMs } = ctx.options;
      const t = timing(ctx, fault);
      const FAILED = 'failed operations';
      const STALLED = `stalled operations (> ${stallMs} ms)`;
      const DETECT = fault === 'drain' ? 'drain → member shown draining (ms)' : 'detection: fault → member marked down (ms)';
      const REROUTE = 'time to reroute: fault → last failed or stalled operation (ms)';
      const LAST_ON = 'drain → last new operation on the drained member (ms)';
      const UP = 'restart → member marked up (ms)';
      const FIRST = 'restart → first operation served by it (ms)';
      const SHARE = 'its share of operations in the last second (%)';
      const P99 = 'operation p99 (ms)';
      rec.figure(FAILED, 'ops', 'lower', false);
      rec.figure(STALLED, 'ops', 'lower', false);
      rec.figure(DETECT, 'ms', 'lower', false);
      rec.figure(REROUTE, 'ms', 'lower', false);
      if (fault === 'drain') rec.figure(LAST_ON, 'ms', 'lower', false);
      if (fault === 'failback') {
        rec.figure(UP, 'ms', 'lower', false);
        rec.figure(FIRST, 'ms', 'lower', false);
        rec.figure(SHARE, '%', 'none', false);
      }
      rec.figure(P99, 'ms', 'lower', true);
      const kind = protocol === 'tcp' ? 'http' : 'dns';
      const total = t.preMs + t.postMs;
      rec.report.notes.push(
        `${opsRate} operations/s (${protocol === 'tcp' ? 'new connection, one request, close' : 'one query from a new source port'}), ` +
          `fault (${faultLabel(fault, protocol)} on one of 2 members) at +${t.preMs} ms` +
          (fault === 'failback' ? `, restarted ${t.restartAfterMs} ms later` : '') +
          `; an operation fails on error or after ${opTimeoutMs} ms, stalls when slower than ${stallMs} ms; ` +
          `the direct column is the same load straight to one healthy backend, with no fault.`,
      );

      for (const target of withVariants(ctx.targets, variants)) {
        const why = target.missing() ?? target.unsupported(protocol);
        if (why) {
          rec.noteAll(target.name, why);
          continue;
        }
        for (let r = 0; r < ctx.options.repeat; r++) {
          const backends = await startBackends(kind, 2);
          const services = [serviceFor(SERVICE, backends, 1)];
          const started = await startTargets({ ...ctx, targets: [target] }, rec, services, ctx.options.health);
          try {
            const s = started[0];
            if (!s) break;
            if (target.name === 'direct') {
              await baseline(ctx, rec, s, r, protocol, total, { FAILED, STALLED, P99 });
              for (const f of rec.report.figures) if (![FAILED, STALLED, P99].includes(f.name)) rec.absent(f.name, 'direct');
              continue;
            }
            if (fault === 'drain' && !s.running.drain) {
              rec.noteAll(target.name, 'no admin drain');
              break;
            }
            await faultRun(ctx, rec, s, backends, r, protocol, fault, t, {
              FAILED,
              STALLED,
              DETECT,
              REROUTE,
              LAST_ON,
              UP,
              FIRST,
              SHARE,
              P99,
            });
          } catch (err) {
            // One column failing (a proxy crashing mid-run) leaves the others' figures standing.
            ctx.progress.log(`bench: ${name} through ${target.name} failed: ${(err as Error).message}`);
            rec.report.notes.push(`${target.name}: run ${r + 1} failed: ${(err as Error).message.split('\n')[0]}`);
          } finally {
            await stopTargets(started);
            await closeBackends(backends);
          }
        }
      }
      return rec;
    },
  };
}

type Names = Record<'FAILED' | 'STALLED' | 'DETECT' | 'REROUTE' | 'LAST_ON' | 'UP' | 'FIRST' | 'SHARE' | 'P99', string>;

function opsJob(ctx: BenchContext, s: Started, protocol: 'tcp' | 'udp', durationMs: number) {
  return (_: number, startAt: number) => ({
    kind: 'ops' as const,
    protocol,
    target: s.running.address(SERVICE),
    startAt,
    warmupMs: 0,
    durationMs,
    rate: ctx.options.opsRate,
    timeoutMs: ctx.options.opTimeoutMs,
  });
}

async function baseline(
  ctx: BenchContext,
  rec: Recorder,
  s: Started,
  r: number,
  protocol: 'tcp' | 'udp',
  total: number,
  n: Pick<Names, 'FAILED' | 'STALLED' | 'P99'>,
): Promise<void> {
  ctx.progress.phase(`${rec.report.name} · direct · no fault`, total);
  const load = await runLoad(1, opsJob(ctx, s, protocol, total));
  const all = ops(load);
  const h = new Histogram();
  for (const o of all) if (o.ok) h.record((o.end - o.due) * 1000);
  rec.sample(n.FAILED, 'direct', all.filter((o) => !o.ok).length);
  rec.sample(n.STALLED, 'direct', all.filter((o) => o.ok && o.end - o.due > ctx.options.stallMs).length);
  rec.sample(n.P99, 'direct', h.percentile(99) / 1000);
  rec.run({
    column: 'direct',
    measurement: 'no fault',
    repeat: r,
    windowMs: Math.round(load.windowMs),
    generator: { processes: 1, cpuCores: round(load.cpu, 3), busiestProcessCores: round(load.cpuMax, 3) },
    proxyCpuCores: null,
    ops: all.length,
    errors: load.errors,
    errorKinds: load.errorKinds,
  });
}

async function faultRun(
  ctx: BenchContext,
  rec: Recorder,
  s: Started,
  backends: Backend[],
  r: number,
  protocol: 'tcp' | 'udp',
  fault: Fault,
  t: Timing,
  n: Names,
): Promise<void> {
  const column = s.target.name;
  const victim = backends[0]!;
  const victimKey = memberKey({ host: LOOPBACK, port: victim.port });
  const poller = s.running.memberStates ? new StatePoller(s.running, victimKey) : undefined;
  let faultAt = 0;
  let restartAt = 0;
  const total = t.preMs + t.postMs;
  ctx.progress.phase(`${rec.report.name} · ${column} · ${faultLabel(fault, protocol)} at +${t.preMs} ms`, total);
  let load: Merged;
  try {
    load = await runLoad(1, opsJob(ctx, s, protocol, total), {
      onStart: async (startAt) => {
        await sleepUntil(startAt + t.preMs);
        faultAt = now();
        if (fault === 'kill' || fault === 'failback') await victim.kill();
        else if (fault === 'hang') victim.hang();
        else await s.running.drain!(SERVICE, victimKey);
        if (fault === 'failback') {
          await sleepUntil(faultAt + t.restartAfterMs);
          await victim.restart();
          restartAt = now();
        }
      },
    });
  } finally {
    if (fault === 'hang') victim.resume();
    await poller?.stop();
  }

  const all = ops(load);
  const stallMs = ctx.options.stallMs;
  const stalled = (o: Op): boolean => o.ok && o.end - o.due > stallMs;
  const bad = all.filter((o) => !o.ok || stalled(o));
  const h = new Histogram();
  for (const o of all) if (o.ok) h.record((o.end - o.due) * 1000);
  const failed = all.filter((o) => !o.ok).length;
  const stalls = all.filter(stalled).length;
  const lastBad = bad.filter((o) => o.end >= faultAt).reduce((m, o) => Math.max(m, o.end - faultAt), 0);
  rec.sample(n.FAILED, column, failed);
  rec.sample(n.STALLED, column, stalls);
  rec.sample(n.REROUTE, column, lastBad);
  rec.sample(n.P99, column, h.percentile(99) / 1000);

  const markers: Marker[] = [{ t: 0, label: faultLabel(fault, protocol) + ' m000' }];
  const downStates = fault === 'drain' ? ['draining', 'down', 'disabled'] : ['down', 'disabled'];
  const detectedAt = poller?.firstAfter(faultAt, downStates) ?? null;
  if (!poller) rec.note(n.DETECT, column, s.target.withoutChecks ?? 'member states not readable');
  else if (detectedAt === null) rec.note(n.DETECT, column, 'never marked down in the run');
  else {
    rec.sample(n.DETECT, column, detectedAt - faultAt);
    markers.push({ t: detectedAt - faultAt, label: fault === 'drain' ? 'shown draining' : 'marked down' });
  }
  if (lastBad > 0) markers.push({ t: lastBad, label: 'last failure' });

  const extra: Record<string, unknown> = {
    faultAt,
    detectionMs: detectedAt === null ? null : round(detectedAt - faultAt, 1),
    rerouteMs: round(lastBad, 1),
    failedBeforeFault: all.filter((o) => !o.ok && o.end < faultAt).length,
    stateChanges: poller?.changes.map((c) => ({ t: round(c.t - faultAt, 1), state: c.state })),
    pollErrors: poller?.errors,
    perMember: [0, 1].map((i) => all.filter((o) => o.ok && o.member === i).length),
  };
  if (fault === 'drain') {
    const last = all.filter((o) => o.ok && o.member === victim.index && o.due >= faultAt).reduce((m, o) => Math.max(m, o.due - faultAt), 0);
    rec.sample(n.LAST_ON, column, last);
    extra.lastOnDrainedMs = round(last, 1);
  }
  if (fault === 'failback') {
    markers.push({ t: restartAt - faultAt, label: 'restarted' });
    const upAt = poller?.firstAfter(restartAt, ['up']) ?? null;
    if (!poller) rec.note(n.UP, column, s.target.withoutChecks ?? 'member states not readable');
    else if (upAt === null) rec.note(n.UP, column, 'not marked up in the run');
    else {
      rec.sample(n.UP, column, upAt - restartAt);
      markers.push({ t: upAt - faultAt, label: 'marked up' });
    }
    const servedByIt = all.filter((o) => o.ok && o.member === victim.index && o.due >= restartAt);
    const firstEnd = servedByIt.reduce((m, o) => Math.min(m, o.end), Infinity);
    if (servedByIt.length) {
      rec.sample(n.FIRST, column, firstEnd - restartAt);
      markers.push({ t: firstEnd - faultAt, label: 'first op on it' });
    } else rec.note(n.FIRST, column, 'took no traffic in the run');
    const lastDue = all.length ? all[all.length - 1]!.due : 0;
    const tail = all.filter((o) => o.ok && o.due >= lastDue - 1000);
    rec.sample(n.SHARE, column, tail.length ? (100 * tail.filter((o) => o.member === victim.index).length) / tail.length : 0);
    extra.restartAt = round(restartAt - faultAt, 1);
  }

  const startDue = all.length ? all[0]!.due : faultAt;
  const endDue = all.length ? all[all.length - 1]!.due : faultAt;
  const first = Math.floor((startDue - faultAt) / BIN_MS);
  const last = Math.floor((endDue - faultAt) / BIN_MS);
  const bins = Array.from({ length: last - first + 1 }, (_, i) => ({ t: (first + i) * BIN_MS, ok: 0, stalled: 0, failed: 0 }));
  for (const o of all) {
    const b = bins[Math.floor((o.due - faultAt) / BIN_MS) - first]!;
    if (!o.ok) b.failed++;
    else if (stalled(o)) b.stalled++;
    else b.ok++;
  }
  const timeline: Timeline = { scenario: rec.report.name, column, binMs: BIN_MS, bins, markers, stallMs };
  if (r === 0) rec.report.timelines.push(timeline);
  rec.run({
    column,
    measurement: faultLabel(fault, protocol),
    repeat: r,
    windowMs: Math.round(load.windowMs),
    generator: { processes: 1, cpuCores: round(load.cpu, 3), busiestProcessCores: round(load.cpuMax, 3) },
    proxyCpuCores: null,
    ops: all.length,
    errors: load.errors,
    errorKinds: load.errorKinds,
    extra,
  });
}

/**
 * The active health checker (Envoy's checker base, HAProxy's `check`): it owns
 * timing, thresholds and timeouts for a service's members; a probe only does
 * the protocol exchange.
 *
 * - The first result decides at once (pass → up, fail → down); after that,
 *   `fall` consecutive failures set `failedCheck` and `rise` consecutive
 *   passes clear it.
 * - Waits: `interval` while stable, `fastInterval` while counting towards a
 *   transition, `downInterval` while down; each jittered by ± `jitter`, and
 *   measured from the end of one check to the start of the next.
 * - A probe is aborted at `timeout` and the check fails then, whether or not
 *   the probe settles; one member never has two checks at once, and a hung
 *   check holds up nothing but its own member's next check.
 * - Agent results also set `agentDrain`, `agentMaint` and the agent weight.
 *
 * Nothing on the data path waits on a check: results reach the pool as
 * member `state` events.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { HealthCheckConfig } from '../config/types.js';
import type { Cause, Member } from '../pool/member.js';
import { probeFor } from './probes/index.js';
import type { Probe, ProbeResult } from './probes/types.js';

/** The first checks start spread over this many ms, so members are not all probed in the same instant. */
const FIRST_CHECK_SPREAD_MS = 100;

export interface CheckEvent {
  member: Member;
  result: ProbeResult;
  durationMs: number;
}

export interface HealthCheckerEvents {
  result: [CheckEvent];
}

export interface HealthCheckerOptions {
  /** A probe of one's own instead of the built-in one for `check.type` (embedding, custom protocols). */
  probe?: Probe;
}

interface Track {
  member: Member;
  timer: NodeJS.Timeout | undefined;
  controller: AbortController | undefined;
  /** The probe's own promise, until it settles (it may outlive its timeout). */
  inFlight: Promise<ProbeResult> | undefined;
  /** Consecutive passes while down (towards rise), failures while up (towards fall). */
  successes: number;
  failures: number;
}

export class HealthChecker extends EventEmitter<HealthCheckerEvents> {
  readonly check: HealthCheckConfig;
  #probe: Probe;
  #tracks = new Map<Member, Track>();
  #running = false;
  /** Bumped by stop(): checks begun before it are discarded when they end. */
  #epoch = 0;

  constructor(check: HealthCheckConfig, members: readonly Member[], opts: HealthCheckerOptions = {}) {
    super();
    const probe = opts.probe ?? probeFor(check.type);
    if (!probe) throw new TypeError(`health check type "${check.type}" runs no checks`);
    this.check = check;
    this.#probe = probe;
    this.setMembers(members);
  }

  get running(): boolean {
    return this.#running;
  }

  /** Starts every member's checks, the first ones promptly. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const t of this.#tracks.values()) this.#schedule(t, Math.random() * Math.min(FIRST_CHECK_SPREAD_MS, this.check.interval));
  }

  /**
   * Stops all checks: clears timers and aborts probes under way. Member flags stay
   * as they are, for a successor checker to take over; with `release` (the service
   * no longer checks its members) the flags this checker owns are cleared instead.
   */
  stop(opts: { release?: boolean } = {}): void {
    this.#running = false;
    this.#epoch++;
    for (const t of this.#tracks.values()) this.#cancel(t);
    if (opts.release) for (const m of this.#tracks.keys()) release(m);
  }

  /** Replaces the checked members (reload, discovery); members kept keep their counters. */
  setMembers(members: readonly Member[]): void {
    const keep = new Set(members);
    for (const [m, t] of this.#tracks) {
      if (keep.has(m)) continue;
      this.#cancel(t);
      this.#tracks.delete(m);
    }
    for (const m of members) {
      if (this.#tracks.has(m)) continue;
      const t: Track = { member: m, timer: undefined, controller: undefined, inFlight: undefined, successes: 0, failures: 0 };
      this.#tracks.set(m, t);
      if (this.#running) this.#schedule(t, Math.random() * Math.min(FIRST_CHECK_SPREAD_MS, this.check.interval));
    }
  }

  #cancel(t: Track): void {
    if (t.timer) clearTimeout(t.timer);
    t.timer = undefined;
    t.controller?.abort(new Error('health checks stopped'));
    t.controller = undefined;
  }

  #schedule(t: Track, delay: number): void {
    t.timer = setTimeout(() => {
      t.timer = undefined;
      void this.#run(t);
    }, delay);
  }

  async #run(t: Track): Promise<void> {
    const epoch = this.#epoch;
    const started = performance.now();
    let result: ProbeResult;
    if (t.inFlight) {
      // The last probe ignored its abort and still runs: never two at once on one member.
      result = { ok: false, detail: 'previous check still running' };
    } else {
      const controller = new AbortController();
      t.controller = controller;
      const probing = this.#start(t.member, controller.signal);
      t.inFlight = probing;
      void probing.then(() => {
        if (t.inFlight === probing) t.inFlight = undefined;
      });
      result = await this.#bounded(probing, controller);
      if (t.controller === controller) t.controller = undefined;
    }
    if (epoch !== this.#epoch || this.#tracks.get(t.member) !== t) return;
    const durationMs = performance.now() - started;
    try {
      this.#apply(t, result, durationMs);
    } finally {
      this.#schedule(t, this.#nextWait(t));
    }
  }

  /** Starts the probe; a probe that throws or rejects (against its contract) fails the check. */
  #start(member: Member, signal: AbortSignal): Promise<ProbeResult> {
    const target = { host: member.address.host, port: this.check.port ?? member.address.port };
    try {
      return this.#probe(target, this.check, signal).catch((err: unknown) => ({ ok: false, detail: errorText(err) }));
    } catch (err) {
      return Promise.resolve({ ok: false, detail: errorText(err) });
    }
  }

  /** The probe's result, or a failure at `timeout`; the probe's signal is aborted then. */
  #bounded(probing: Promise<ProbeResult>, controller: AbortController): Promise<ProbeResult> {
    const limit = this.check.timeout;
    return new Promise<ProbeResult>((resolve) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        const text = `timeout after ${limit}ms`;
        controller.abort(new Error(text));
        // One turn for the probe to settle and say where it hung; after that the timeout stands alone.
        const alone = setImmediate(() => resolve({ ok: false, detail: text }));
        void probing.then((r) => {
          clearImmediate(alone);
          resolve({ ok: false, detail: r.detail.includes(text) ? r.detail : `${text}: ${r.detail}` });
        });
      }, limit);
      void probing.then((r) => {
        if (timedOut) return;
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  #apply(t: Track, result: ProbeResult, durationMs: number): void {
    const m = t.member;
    const { rise, fall, type } = this.check;
    m.lastCheck = { at: Date.now(), ok: result.ok, detail: result.detail, durationMs };
    const agent: Cause = { source: 'agent', detail: `agent: ${result.detail}` };
    if (result.weightPercent !== undefined) m.setAgentPercent(result.weightPercent);
    // Raise flags before lowering others, so drain → maint never passes through up.
    const flags: Array<['agentDrain' | 'agentMaint', boolean | undefined]> = [
      ['agentDrain', result.drain],
      ['agentMaint', result.maint],
    ];
    for (const on of [true, false]) for (const [flag, v] of flags) if (v === on) m.setFlag(flag, on, agent);
    const cause = (note: string): Cause => ({ source: 'check', detail: `${type}: ${result.detail} (${note})` });
    if (m.has('pending')) {
      // The first result decides at once (Envoy); set failedCheck before clearing pending so the
      // member goes straight from unknown to down, never through up.
      t.successes = 0;
      t.failures = 0;
      m.setFlag('failedCheck', !result.ok, cause('first check'));
      m.setFlag('pending', false, cause('first check'));
    } else if (result.ok) {
      t.failures = 0;
      if (m.has('failedCheck')) {
        t.successes++;
        if (t.successes >= rise) {
          m.setFlag('failedCheck', false, cause(`${t.successes} of rise ${rise}`));
          t.successes = 0;
        }
      }
    } else {
      t.successes = 0;
      if (!m.has('failedCheck')) {
        t.failures++;
        if (t.failures >= fall) {
          m.setFlag('failedCheck', true, cause(`${t.failures} of fall ${fall}`));
          t.failures = 0;
        }
      }
    }
    this.emit('result', { member: m, result, durationMs });
  }

  /** HAProxy's inter / fastinter / downinter, with jitter. */
  #nextWait(t: Track): number {
    const c = this.check;
    let base: number;
    if (t.member.has('failedCheck')) base = t.successes > 0 ? c.fastInterval : c.downInterval;
    else base = t.failures > 0 ? c.fastInterval : c.interval;
    return jittered(base, c.jitter);
  }
}

/** `base` moved randomly by up to ± `fraction` of itself. */
export function jittered(base: number, fraction: number): number {
  if (fraction <= 0) return base;
  return Math.max(0, base * (1 + fraction * (2 * Math.random() - 1)));
}

/** Clears the flags the checker owns: the member is no longer checked. */
function release(m: Member): void {
  const cause: Cause = { source: 'check', detail: 'health checks turned off' };
  m.setFlag('agentMaint', false, cause);
  m.setFlag('agentDrain', false, cause);
  m.setAgentPercent(100);
  m.setFlag('failedCheck', false, cause);
  m.setFlag('pending', false, cause);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

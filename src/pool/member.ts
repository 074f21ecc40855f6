/**
 * A pool member and its state machine.
 *
 * A member's health is a set of flags, each written by exactly one owner
 * (as Envoy does it): the active checker writes `pending` and `failedCheck`,
 * the outlier detector writes `ejected`, the agent check writes `agentDrain`
 * and `agentMaint`, the admin API writes `adminDrain` and `adminMaint`.
 * The state is derived from the flags in one function, `deriveState`, and a
 * `state` event is published only when the derived state really changes.
 * Everyone else (pool, listeners, metrics, logs) subscribes.
 */
import { EventEmitter } from 'node:events';
import type { Endpoint } from '../net/address.js';
import type { MemberConfig } from '../config/types.js';

export type MemberState = 'unknown' | 'up' | 'draining' | 'down' | 'disabled';

export type MemberFlag =
  | 'pending'
  | 'failedCheck'
  | 'ejected'
  | 'agentDrain'
  | 'agentMaint'
  | 'adminDrain'
  | 'adminMaint';

/** Who changed a member, and what they saw: carried on every transition for logs and metrics. */
export interface Cause {
  source: 'check' | 'outlier' | 'agent' | 'admin' | 'start' | 'discovery' | 'control';
  detail: string;
}

export interface StateChange {
  member: Member;
  from: MemberState;
  to: MemberState;
  cause: Cause;
}

/** Something the data path holds on a member (a TCP connection, a UDP session) that can be ended. */
export interface Attachment {
  close(reason: string): void;
}

export interface CheckRecord {
  at: number;
  ok: boolean;
  detail: string;
  durationMs: number;
}

/** Derives the one state from the flags; the only place that decides it. */
export function deriveState(flags: ReadonlySet<MemberFlag>): MemberState {
  if (flags.has('adminMaint') || flags.has('agentMaint')) return 'disabled';
  if (flags.has('failedCheck') || flags.has('ejected')) return 'down';
  if (flags.has('adminDrain') || flags.has('agentDrain')) return 'draining';
  if (flags.has('pending')) return 'unknown';
  return 'up';
}

/** Health rendered from the flags in one function, as Envoy's admin does: `healthy` or `/failed_check/ejected`. */
export function renderFlags(flags: ReadonlySet<MemberFlag>): string {
  return flags.size === 0 ? 'healthy' : '/' + [...flags].join('/');
}

export interface MemberEvents {
  state: [StateChange];
  weight: [Member];
}

export class Member extends EventEmitter<MemberEvents> {
  readonly id: string;
  readonly address: Endpoint;
  readonly backup: boolean;
  /** The configured weight; `weight()` is what balancers use. */
  readonly configWeight: number;
  /** Most connections or sessions at once; 0 = no limit. */
  readonly configMaxConnections: number;
  readonly attachments = new Set<Attachment>();
  /** Connections (TCP) or sessions (UDP) open now; kept by the data path for leastconn. */
  active = 0;
  lastCheck: CheckRecord | undefined;
  /** Bytes relayed (client → member, member → client); the data path adds, metrics read at scrape time. */
  bytesIn = 0;
  bytesOut = 0;
  /** Ejections so far; the outlier detector lengthens each repeat. */
  ejections = 0;

  #flags = new Set<MemberFlag>();
  #state: MemberState;
  #since = Date.now();
  #agentPercent = 100;
  #slowStart: number;
  #rampFrom = 0;

  constructor(config: MemberConfig, opts: { checked: boolean; slowStart: number }) {
    super();
    this.id = config.id;
    this.address = config.address;
    this.backup = config.backup;
    this.configWeight = config.weight;
    this.configMaxConnections = config.maxConnections;
    this.#slowStart = opts.slowStart;
    if (opts.checked) this.#flags.add('pending');
    this.#state = deriveState(this.#flags);
  }

  get state(): MemberState {
    return this.#state;
  }

  /** When the current state began (ms since the epoch). */
  get since(): number {
    return this.#since;
  }

  get flags(): ReadonlySet<MemberFlag> {
    return this.#flags;
  }

  has(flag: MemberFlag): boolean {
    return this.#flags.has(flag);
  }

  /** Sets or clears one flag; publishes a `state` event when the derived state changes. */
  setFlag(flag: MemberFlag, on: boolean, cause: Cause): void {
    if (this.#flags.has(flag) === on) return;
    if (on) this.#flags.add(flag);
    else this.#flags.delete(flag);
    const from = this.#state;
    const to = deriveState(this.#flags);
    if (from === to) return;
    this.#state = to;
    this.#since = Date.now();
    // Slow start applies to a member coming back from a failure or maintenance, not to the first check.
    if (to === 'up' && (from === 'down' || from === 'disabled')) this.#rampFrom = this.#since;
    this.emit('state', { member: this, from, to, cause });
  }

  /** The agent check's weight percentage (HAProxy agent `75%`). */
  setAgentPercent(percent: number): void {
    const p = Math.max(0, Math.min(100, Math.round(percent)));
    if (p === this.#agentPercent) return;
    this.#agentPercent = p;
    this.emit('weight', this);
  }

  get agentPercent(): number {
    return this.#agentPercent;
  }

  /** True while the slow-start ramp is still under way. */
  ramping(now = Date.now()): boolean {
    return this.#slowStart > 0 && this.#rampFrom > 0 && now - this.#rampFrom < this.#slowStart;
  }

  /** Configured × agent percentage, without the slow-start ramp (maglev's weight: a ramp would remap clients). */
  steadyWeight(): number {
    return (this.configWeight * this.#agentPercent) / 100;
  }

  /** The weight balancers use now: the steady weight × the slow-start ramp (from 5% up). */
  weight(now = Date.now()): number {
    let w = this.steadyWeight();
    if (this.ramping(now)) w *= Math.max(0.05, (now - this.#rampFrom) / this.#slowStart);
    return w;
  }

  /** Closes every connection or session held on this member. */
  closeAll(reason: string): void {
    for (const a of [...this.attachments]) a.close(reason);
  }
}

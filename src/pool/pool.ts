/**
 * A service's members in priority groups (primaries, then backups), and the
 * routing set derived from their states: the one place that decides who takes
 * new connections. Rebuilds its balancer only when that set really changes.
 *
 * Who routes, in order:
 * - primaries that are up;
 * - primaries still waiting for their first check ('pending'), as HAProxy
 *   starts servers as up: backups take over only from primaries known down;
 * - backups that are up (the first only, unless `allBackups`); once they
 *   serve they keep serving until a primary is up, and with `failback:
 *   manual` until `releaseFailbackHold()` as well;
 * - backups waiting for their first check;
 * - with `panic`, the members that are down (primaries, else backups);
 * - no one ('none'). Draining and disabled members never take new connections.
 */
import { EventEmitter } from 'node:events';
import type { BalanceAlgorithm, HashKey } from '../config/types.js';
import { createPolicy } from './balancers/index.js';
import type { Member, StateChange } from './member.js';
import type { BalancePolicy, PickContext } from './types.js';

export interface PoolOptions {
  balance: BalanceAlgorithm;
  hashKey: HashKey;
  failback: 'auto' | 'manual';
  allBackups: boolean;
  panic: boolean;
  /** Where the rotation starts (pool/types.ts PolicyOptions): a worker's slot, 0 in one process. */
  phase: number;
}

/** Which members the routing set was drawn from. */
export type RoutingMode = 'primary' | 'backup' | 'pending' | 'panic' | 'none';

export interface PoolEvents {
  /** The routing set or its mode changed. */
  change: [readonly Member[], RoutingMode];
  /** Traffic moved from backups back to primaries; the backups that were serving. */
  failback: [Member[]];
  /**
   * A member's state changed (re-published so subscribers need only the pool).
   * Published after the routing set has been updated, so a subscriber that
   * moves that member's connections picks from the new set.
   */
  state: [StateChange];
  /** A member's agent weight changed (re-published, as `state`). */
  weight: [Member];
}

export class Pool extends EventEmitter<PoolEvents> {
  #options: PoolOptions;
  #members: readonly Member[] = [];
  #routing: readonly Member[] = [];
  #mode: RoutingMode = 'none';
  #policy: BalancePolicy;
  /** failback: manual — set when backups take over; cleared by releaseFailbackHold() or when they stop serving. */
  #holdOnBackups = false;
  #onState = (ev: StateChange) => {
    this.#recompute();
    this.emit('state', ev);
  };
  // Policies that weigh at build time (maglev) need a rebuild; the others read weights per pick.
  #onWeight = (m: Member) => {
    if (this.#routing.includes(m)) this.#rebuildPolicy();
    this.emit('weight', m);
  };

  constructor(options: PoolOptions, members: readonly Member[]) {
    super();
    this.#options = { ...options };
    this.#policy = createPolicy(options.balance, [], options);
    this.setMembers(members);
  }

  get options(): Readonly<PoolOptions> {
    return this.#options;
  }

  get members(): readonly Member[] {
    return this.#members;
  }

  get routing(): readonly Member[] {
    return this.#routing;
  }

  get mode(): RoutingMode {
    return this.#mode;
  }

  get(id: string): Member | undefined {
    return this.#members.find((m) => m.id === id);
  }

  /** Replaces the member list (reload, discovery); members kept by the caller keep their state. */
  setMembers(members: readonly Member[]): void {
    for (const m of this.#members) {
      if (!members.includes(m)) {
        m.off('state', this.#onState);
        m.off('weight', this.#onWeight);
      }
    }
    for (const m of members) {
      if (!this.#members.includes(m)) {
        m.on('state', this.#onState);
        m.on('weight', this.#onWeight);
      }
    }
    this.#members = [...members];
    this.#recompute();
  }

  /** Applies reloaded options: a new algorithm or hash key rebuilds the balancer. */
  setOptions(options: PoolOptions): void {
    const old = this.#options;
    this.#options = { ...options };
    if (options.failback === 'auto') this.#holdOnBackups = false;
    if (options.balance !== old.balance || options.hashKey !== old.hashKey) this.#rebuildPolicy();
    this.#recompute();
  }

  /** The member for a new connection, or undefined when none may take it (policies skip members at their limit). */
  pick(ctx: PickContext): Member | undefined {
    return this.#policy.pick(ctx);
  }

  /** Admin `enable` on a primary: with `failback: manual`, lets traffic return to primaries once one is up. */
  releaseFailbackHold(): void {
    if (!this.#holdOnBackups) return;
    this.#holdOnBackups = false;
    this.#recompute();
  }

  /** With `failback: manual`: whether backups took over and keep serving until a release. */
  get holdsOnBackups(): boolean {
    return this.#holdOnBackups;
  }

  /**
   * Enters the hold a pool takes when its backups take over (`failback: manual`), for a pool that
   * starts while the others it mirrors hold (a restarted cluster worker). Only with a backup up.
   */
  holdOnBackups(): void {
    if (this.#options.failback !== 'manual' || this.#holdOnBackups || !this.#members.some((m) => m.backup && isUp(m))) return;
    this.#mode = 'backup';
    this.#holdOnBackups = true;
    this.#recompute();
  }

  /** Detaches from the members; publishes nothing more. */
  close(): void {
    this.removeAllListeners();
    this.setMembers([]);
  }

  #rebuildPolicy(): void {
    this.#policy = createPolicy(this.#options.balance, this.#routing, this.#options);
  }

  #recompute(): void {
    const { routing, mode } = this.#derive();
    const previousMode = this.#mode;
    if (mode !== 'backup') this.#holdOnBackups = false;
    else if (previousMode !== 'backup' && this.#options.failback === 'manual') this.#holdOnBackups = true;
    const sameSet = sameMembers(routing, this.#routing);
    if (sameSet && mode === previousMode) return;
    const previous = this.#routing;
    this.#routing = routing;
    this.#mode = mode;
    if (!sameSet) this.#rebuildPolicy();
    this.emit('change', routing, mode);
    if (previousMode === 'backup' && mode === 'primary') this.emit('failback', previous.filter((m) => m.backup));
  }

  #derive(): { routing: Member[]; mode: RoutingMode } {
    const primaries = this.#members.filter((m) => !m.backup);
    const backups = this.#members.filter((m) => m.backup);
    const upPrimaries = primaries.filter(isUp);
    const upBackups = backups.filter(isUp);
    const onBackups = this.#mode === 'backup' && upBackups.length > 0;
    if (upPrimaries.length > 0 && !(onBackups && this.#holdOnBackups)) return { routing: upPrimaries, mode: 'primary' };
    const pendingPrimaries = primaries.filter(isPending);
    if (upBackups.length > 0 && (onBackups || pendingPrimaries.length === 0)) {
      return { routing: this.#options.allBackups ? upBackups : upBackups.slice(0, 1), mode: 'backup' };
    }
    if (pendingPrimaries.length > 0) return { routing: pendingPrimaries, mode: 'pending' };
    const pendingBackups = backups.filter(isPending);
    if (pendingBackups.length > 0) return { routing: pendingBackups, mode: 'pending' };
    if (this.#options.panic) {
      const downPrimaries = primaries.filter(isDown);
      if (downPrimaries.length > 0) return { routing: downPrimaries, mode: 'panic' };
      const downBackups = backups.filter(isDown);
      if (downBackups.length > 0) return { routing: downBackups, mode: 'panic' };
    }
    return { routing: [], mode: 'none' };
  }
}

const isUp = (m: Member) => m.state === 'up';
const isPending = (m: Member) => m.state === 'unknown';
const isDown = (m: Member) => m.state === 'down';

function sameMembers(a: readonly Member[], b: readonly Member[]): boolean {
  return a.length === b.length && a.every((m, i) => m === b[i]);
}

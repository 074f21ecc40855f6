/**
 * A service's members in priority groups (primaries, then backups), and the
 * routing set derived from their states: the one place that decides who takes
 * new connections. Rebuilds its balancer only when that set really changes.
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
}

/** Which members the routing set was drawn from. */
export type RoutingMode = 'primary' | 'backup' | 'pending' | 'panic' | 'none';

export interface PoolEvents {
  /** The routing set changed. */
  change: [readonly Member[], RoutingMode];
  /** Traffic moved from backups back to primaries; the backups that were serving. */
  failback: [Member[]];
  /** A member's state changed (re-published so subscribers need only the pool). */
  state: [StateChange];
}

export class Pool extends EventEmitter<PoolEvents> {
  readonly options: PoolOptions;
  #members: Member[] = [];
  #routing: readonly Member[] = [];
  #mode: RoutingMode = 'none';
  #policy: BalancePolicy;
  /** failback: manual — set while backups serve; cleared when an admin enables a primary. */
  #holdOnBackups = false;
  #onState = (ev: StateChange) => {
    this.emit('state', ev);
    this.#recompute();
  };
  #onWeight = () => {
    this.#policy = createPolicy(this.options.balance, this.#routing, { hashKey: this.options.hashKey });
  };

  constructor(options: PoolOptions, members: Member[]) {
    super();
    this.options = options;
    this.#policy = createPolicy(options.balance, [], { hashKey: options.hashKey });
    this.setMembers(members);
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
  setMembers(members: Member[]): void {
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
    this.#members = members;
    this.#recompute(true);
  }

  /** The member for a new connection, or undefined when none may take it. */
  pick(ctx: PickContext): Member | undefined {
    const m = this.#policy.pick(ctx);
    if (m === undefined || m.configMaxConnections === 0 || m.active < m.configMaxConnections) return m;
    // Full member: let the policy choose again without it and others at their limit.
    const exclude = new Set(ctx.exclude);
    for (const r of this.#routing) if (r.configMaxConnections > 0 && r.active >= r.configMaxConnections) exclude.add(r);
    if (exclude.size >= this.#routing.length) return undefined;
    return this.#policy.pick({ ...ctx, exclude });
  }

  /** Admin `enable` on a primary ends a manual-failback hold. */
  releaseFailbackHold(): void {
    if (!this.#holdOnBackups) return;
    this.#holdOnBackups = false;
    this.#recompute();
  }

  close(): void {
    this.setMembers([]);
    this.removeAllListeners();
  }

  #recompute(force = false): void {
    const { routing, mode } = this.#derive();
    const wasBackup = this.#mode === 'backup';
    if (mode === 'backup' && this.options.failback === 'manual') this.#holdOnBackups = true;
    if (!force && mode === this.#mode && sameMembers(routing, this.#routing)) return;
    const previous = this.#routing;
    this.#routing = routing;
    this.#mode = mode;
    this.#policy = createPolicy(this.options.balance, routing, { hashKey: this.options.hashKey });
    this.emit('change', routing, mode);
    if (wasBackup && mode === 'primary') this.emit('failback', previous.filter((m) => m.backup));
  }

  #derive(): { routing: Member[]; mode: RoutingMode } {
    const up = (m: Member) => m.state === 'up';
    const primaries = this.#members.filter((m) => !m.backup);
    const backups = this.#members.filter((m) => m.backup);
    const upBackups = backups.filter(up);
    const upPrimaries = primaries.filter(up);
    const hold = this.#holdOnBackups && upBackups.length > 0;
    if (upPrimaries.length > 0 && !hold) {
      this.#holdOnBackups = false;
      return { routing: upPrimaries, mode: 'primary' };
    }
    if (upBackups.length > 0) {
      return { routing: this.options.allBackups ? upBackups : upBackups.slice(0, 1), mode: 'backup' };
    }
    // Before the first checks decide, spread over the members not yet known rather than refuse.
    const pendingPrimaries = primaries.filter((m) => m.state === 'unknown');
    if (pendingPrimaries.length > 0) return { routing: pendingPrimaries, mode: 'pending' };
    const pendingBackups = backups.filter((m) => m.state === 'unknown');
    if (pendingBackups.length > 0) return { routing: pendingBackups, mode: 'pending' };
    if (this.options.panic) {
      const all = this.#members.filter((m) => m.state === 'down');
      if (all.length > 0) return { routing: all, mode: 'panic' };
    }
    return { routing: [], mode: 'none' };
  }
}

function sameMembers(a: readonly Member[], b: readonly Member[]): boolean {
  return a.length === b.length && a.every((m, i) => m === b[i]);
}

/**
 * One running service: its members, pool, checker, outlier detector and
 * listener, and the service-level policies that react to member transitions
 * (close on down, drain timeout, close on failback). Nothing here is on the
 * data path; it subscribes to the pool and acts on attachments.
 */
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { ServiceConfig } from './config/types.js';
import { HealthChecker } from './health/checker.js';
import { OutlierDetector } from './health/outlier.js';
import { DnsDiscovery } from './pool/discovery.js';
import { Member, type StateChange } from './pool/member.js';
import { Pool, type PoolOptions } from './pool/pool.js';
import { ControlListener, type WorkerView } from './cluster/control-listener.js';
import { TcpListener } from './proxy/tcp.js';
import type { EndReason, Listener } from './proxy/types.js';
import { UdpListener } from './proxy/udp.js';

export type MemberAction = 'drain' | 'disable' | 'enable';

/**
 * Where this service runs with `workers: N`: 'all' is the single process;
 * 'control' (the cluster primary) checks and ejects members but binds nothing,
 * its listener a stand-in fed by the workers; 'data' (a worker) serves the
 * listener and takes member flags from the primary, so it runs no checks.
 */
export type ServiceRole = 'all' | 'control' | 'data';

export interface ServiceOptions {
  role?: ServiceRole;
  /** Role 'control': the workers' bound addresses and open connections. */
  view?: WorkerView;
  /** Role 'data': the listener binds its own socket with SO_REUSEPORT (net/reuse-port.ts). */
  reusePort?: boolean;
  /** Role 'data': the worker's slot, where its rotations start (PoolOptions). */
  phase?: number;
}

export function poolOptions(c: ServiceConfig, phase: number): PoolOptions {
  return { balance: c.balance, hashKey: c.hashKey, failback: c.failback, allBackups: c.allBackups, panic: c.panic, phase };
}

export interface ServiceEvents {
  /** Discovery found a different set of members (ids). */
  discovered: [string[]];
  /** A discovery lookup failed; the members stay as they were. */
  'discovery-error': [Error];
}

export class Service extends EventEmitter<ServiceEvents> {
  readonly name: string;
  config: ServiceConfig;
  readonly pool: Pool;
  readonly listener: Listener & { updateConfig(c: ServiceConfig): void };
  checker: HealthChecker | undefined;
  readonly outlier: OutlierDetector;
  readonly role: ServiceRole;
  #discovery: DnsDiscovery | undefined;
  #drainTimers = new Map<Member, NodeJS.Timeout>();

  constructor(config: ServiceConfig, options: ServiceOptions = {}) {
    super();
    this.name = config.name;
    this.config = config;
    this.role = options.role ?? 'all';
    const members = config.members.map((mc) => this.#newMember(mc));
    this.pool = new Pool(poolOptions(config, options.phase ?? 0), members);
    if (this.role === 'control') {
      if (!options.view) throw new Error('a control-role service needs the workers\' view');
      this.listener = new ControlListener(config, options.view);
    } else {
      const opts = { reusePort: options.reusePort ?? false };
      this.listener =
        config.protocol === 'udp' ? new UdpListener(config, this.pool, opts) : new TcpListener(config, this.pool, opts);
    }
    this.outlier = new OutlierDetector(config.outlier, members);
    // A worker's connect results go to the primary's detector instead (src/cluster/worker.ts).
    if (this.role !== 'data') this.outlier.watch(this.listener);
    this.checker = this.#newChecker(config, members);
    this.pool.on('state', this.#onState);
    this.pool.on('failback', this.#onFailback);
  }

  async start(): Promise<void> {
    await this.listener.listen();
    this.checker?.start();
    await this.#startDiscovery();
  }

  /** Applies a changed config for the same listen address: members kept by id keep their state. */
  update(config: ServiceConfig): void {
    const previous = this.config;
    this.config = config;
    this.listener.updateConfig(config);
    this.pool.setOptions(poolOptions(config, this.pool.options.phase));
    this.outlier.setConfig(config.outlier);
    if (!this.checker || !isDeepStrictEqual(previous.healthCheck, config.healthCheck)) {
      // A new kind of check (or none) starts from scratch; `release` clears the flags the old one set.
      this.checker?.stop({ release: true });
      this.checker = this.#newChecker(config, [...this.pool.members]);
      this.checker?.start();
    }
    if (config.discovery && isDeepStrictEqual(previous.discovery, config.discovery)) return;
    this.#discovery?.stop();
    this.#discovery = undefined;
    if (config.discovery) void this.#startDiscovery();
    else this.#setMembers(config.members);
  }

  /** Admin actions. Returns false when no member has that id. */
  memberAction(id: string, action: MemberAction): boolean {
    const m = this.pool.get(id);
    if (!m) return false;
    const cause = { source: 'admin' as const, detail: `admin ${action}` };
    if (action === 'drain') m.setFlag('adminDrain', true, cause);
    else if (action === 'disable') m.setFlag('adminMaint', true, cause);
    else {
      m.setFlag('adminMaint', false, cause);
      m.setFlag('adminDrain', false, cause);
      if (!m.backup) this.pool.releaseFailbackHold();
    }
    return true;
  }

  stopAccepting(): Promise<void> {
    return this.listener.stopAccepting();
  }

  /** Stops checks and timers and ends every open connection. */
  close(reason: EndReason): void {
    this.#discovery?.stop();
    this.checker?.stop();
    this.outlier.stop();
    for (const t of this.#drainTimers.values()) clearTimeout(t);
    this.#drainTimers.clear();
    this.listener.closeAll(reason);
    this.pool.close();
  }

  /** The members this config names; members kept by id (same weight, backup, limit) keep their state. */
  #setMembers(configs: ServiceConfig['members']): void {
    const byId = new Map(this.pool.members.map((m) => [m.id, m]));
    const members = configs.map((mc) => {
      const kept = byId.get(mc.id);
      return kept && kept.configWeight === mc.weight && kept.backup === mc.backup && kept.configMaxConnections === mc.maxConnections
        ? kept
        : this.#newMember(mc);
    });
    const removed = this.pool.members.filter((m) => !members.includes(m));
    this.pool.setMembers(members);
    this.outlier.setMembers(members);
    // Kept members keep their rise/fall counts.
    this.checker?.setMembers(members);
    // A removed member's connections finish on their own, up to the drain timeout.
    for (const m of removed) this.#scheduleDrainClose(m);
  }

  /** Members from DNS: the first answer is awaited (so a start does not refuse), later ones applied as they come. */
  async #startDiscovery(): Promise<void> {
    if (!this.config.discovery || this.#discovery) return;
    const discovery = new DnsDiscovery(this.config.discovery);
    this.#discovery = discovery;
    discovery.on('members', (configs) => {
      this.#setMembers(configs);
      this.emit('discovered', configs.map((c) => c.id));
    });
    discovery.on('error', (err) => this.emit('discovery-error', err));
    await discovery.start();
  }

  #newMember(mc: ServiceConfig['members'][number]): Member {
    return new Member(mc, { checked: this.config.healthCheck.type !== 'none', slowStart: this.config.slowStart });
  }

  #newChecker(config: ServiceConfig, members: Member[]): HealthChecker | undefined {
    if (config.healthCheck.type === 'none' || this.role === 'data') return undefined;
    const checker = new HealthChecker(config.healthCheck, members);
    this.outlier.attachChecker(checker);
    return checker;
  }

  #onState = (ev: StateChange): void => {
    const { member, to } = ev;
    if (to !== 'draining') this.#cancelDrain(member);
    if (to === 'down' && this.config.onMemberDown === 'close') member.closeAll('member-down');
    else if (to === 'draining') this.#scheduleDrainClose(member);
  };

  #onFailback = (backups: Member[]): void => {
    if (this.config.onFailback === 'close') for (const b of backups) b.closeAll('failback');
  };

  #scheduleDrainClose(member: Member): void {
    if (this.config.drainTimeout <= 0 || this.#drainTimers.has(member) || member.attachments.size === 0) return;
    const timer = setTimeout(() => {
      this.#drainTimers.delete(member);
      member.closeAll('drained');
    }, this.config.drainTimeout);
    timer.unref();
    this.#drainTimers.set(member, timer);
  }

  #cancelDrain(member: Member): void {
    const t = this.#drainTimers.get(member);
    if (t) clearTimeout(t);
    this.#drainTimers.delete(member);
  }
}

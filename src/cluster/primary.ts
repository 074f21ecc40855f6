/**
 * The cluster primary (`workers: N`, N > 1): keeps the control plane (config,
 * health checks, outlier detection, admin API, reload, metrics aggregation)
 * in a Switchyard of role 'control', and runs N workers that serve the
 * listeners. Member state flows out to the workers on every transition and
 * agent weight change (and as a full snapshot every second, and with the
 * config a worker starts from, so a restarted one never routes by states of
 * its own); connect failures and per-member counts flow back.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Logger } from 'pino';
import type { Status, WorkerStatus } from '../admin/status.js';
import { Switchyard, type BalancerOptions, type ReloadResult } from '../balancer.js';
import { loadConfigFile } from '../config/load.js';
import type { Config, ServiceConfig } from '../config/types.js';
import { reusePortWorks } from '../net/reuse-port.js';
import type { Member, StateChange } from '../pool/member.js';
import type { MemberAction, Service } from '../service.js';
import { ControlListener, WorkerView } from './control-listener.js';
import { unsplittable, workerShare } from './limits.js';
import { isFromWorker, type FromWorker, type MemberSnapshot, type ServiceStats, type ToWorker } from './messages.js';

/**
 * How workers share a listening socket where Node.js has no reusePort (with it,
 * each worker binds its own: net/reuse-port.ts). SCHED_NONE: every worker accepts on the
 * shared handle and the kernel spreads the connections; SCHED_RR: the primary
 * accepts and hands each connection to a worker. Measured with wrk -t1 -c64
 * (keep-alive, nginx behind, on a loaded 2-core box) over three runs: SCHED_RR
 * 23.3k/21.5k/17.5k requests/s against SCHED_NONE's 29.9k/14.2k/15.3k; the
 * kernel's spread is uneven (one worker often takes most of the connections).
 * Yet with round-robin the primary keeps accepting (and handing to workers
 * that are draining) until the last worker closes, so a stopping balancer
 * still takes new connections; with SCHED_NONE each worker stops accepting
 * as it closes. The figures are within this box's noise; stopping right wins.
 * Handing every connection to a worker of an even share gave nothing either: 64
 * keep-alive connections split 32/32 (SCHED_RR) or as the kernel left them, eight
 * alternating pairs, 50.0k against 49.6k requests/s.
 */
const SCHEDULING = cluster.SCHED_NONE;
const APPLY_TIMEOUT = 15_000;
const METRICS_TIMEOUT = 3_000;
const SNAPSHOT_INTERVAL = 1_000;
/**
 * A serving worker sends its stats every second; one silent this long has its event loop stuck
 * (a bug, or a stopped process) while the kernel still hands it connections, so it is killed and
 * restarted, as HAProxy's watchdog ends a process whose thread stopped making progress.
 */
const SILENT_AFTER = 5_000;
const RESTART_MIN = 250;
const RESTART_MAX = 30_000;
/** A worker that lived this long restarts without the backoff of the earlier failures. */
const STABLE_AFTER = 30_000;

type Metrics = MetricObjectWithValues<MetricValue<string>>[];

interface Pending {
  waiting: Set<number>;
  errors: string[];
  finish(): void;
}

/** Last counts one worker reported for one member. */
interface Counts {
  active: number;
  bytesIn: number;
  bytesOut: number;
}

function errorLines(err: unknown): string[] {
  const issues = (err as { issues?: unknown[] }).issues;
  if (Array.isArray(issues)) return issues.map(String);
  return [err instanceof Error ? err.message : String(err)];
}

/** The workers: start, configure, restart, stop; and what they report. */
class Fleet {
  readonly #logger: Logger;
  readonly #view: WorkerView;
  readonly #control: Switchyard;
  #config: Config;
  /** Workers running (the config's count at start: a reload that changes it applies at the next start). */
  readonly #count: number;
  /** Each worker's slot, 0 … count − 1, for its share of the limits; a restarted worker takes the one it replaces. */
  readonly #slots = new WeakMap<Worker, number>();
  /** When each worker was forked. */
  readonly #born = new WeakMap<Worker, number>();
  /** Restarts per slot. */
  readonly #restarts = new Map<number, number>();
  readonly #restartsTotal: Counter;
  #seq = 0;
  #changing: Promise<unknown> = Promise.resolve();
  readonly #pending = new Map<number, Pending>();
  readonly #metricRequests = new Map<number, { waiting: Set<number>; got: Metrics[]; finish(): void }>();
  #metricSeq = 0;
  /** Workers that applied their first config and serve. */
  readonly #serving = new Set<Worker>();
  readonly #counts = new Map<number, Map<string, Map<string, Counts>>>();
  readonly #wired = new WeakSet<Service>();
  /** Resolves when the worker listens for messages (its 'hello'). */
  readonly #hello = new WeakMap<Worker, () => void>();
  readonly #listening = new WeakMap<Worker, Promise<void>>();
  /** While stopping: workers not yet closed to new connections, and who to tell once none is left. */
  readonly #open = new Set<number>();
  #allClosed: (() => void) | undefined;
  #failures = 0;
  #stopping = false;
  #controlStarted = false;
  #snapshots: NodeJS.Timeout | undefined;
  /** When each serving worker was last heard from. */
  readonly #heard = new WeakMap<Worker, number>();
  /** Workers bind listening sockets of their own with SO_REUSEPORT (net/reuse-port.ts). */
  readonly #reusePort: boolean;
  /** With reusePort: the port a worker bound for each port-0 listener (portKey), which the others then bind. */
  readonly #ports = new Map<string, number>();

  constructor(config: Config, logger: Logger, view: WorkerView, control: Switchyard, reusePort: boolean) {
    this.#config = config;
    this.#count = config.workers;
    this.#reusePort = reusePort;
    this.#logger = logger;
    this.#view = view;
    this.#control = control;
    const registers = [control.metricsRegistry];
    this.#restartsTotal = new Counter({ name: 'switchyard_worker_restarts_total', help: 'Workers restarted after they exited', registers });
    const serving = this.#serving;
    new Gauge({
      name: 'switchyard_workers',
      help: 'Worker processes serving the listeners',
      registers,
      collect() {
        this.set(serving.size);
      },
    });
  }

  /** The workers serving now, for GET /status. */
  workers(): WorkerStatus[] {
    const now = Date.now();
    return [...this.#serving]
      .map((w) => {
        const slot = this.#slots.get(w) ?? 0;
        const uptimeSeconds = Math.max(0, Math.floor((now - (this.#born.get(w) ?? now)) / 1000));
        return { pid: w.process.pid ?? 0, slot, uptimeSeconds, restarts: this.#restarts.get(slot) ?? 0 };
      })
      .sort((a, b) => a.slot - b.slot);
  }

  /** Forks the workers and resolves once every one serves the config; rejects with why one could not. */
  async start(): Promise<void> {
    const workers = Array.from({ length: this.#count }, (_, slot) => this.#fork(slot));
    const r = await this.#configure(workers, this.#config);
    if (!r.ok) throw new Error(r.errors.join('\n'));
    for (const w of workers) this.#serving.add(w);
  }

  /** After the control plane started: follow its member states and keep the workers in step. */
  controlStarted(): void {
    this.#controlStarted = true;
    this.wire();
    this.#broadcast({ swy: 'members', members: this.#snapshot() });
    this.#snapshots = setInterval(() => {
      this.#broadcast({ swy: 'members', members: this.#snapshot() });
      this.#killSilent();
    }, SNAPSHOT_INTERVAL);
    this.#snapshots.unref();
  }

  /** Subscribes to the member transitions of services not followed yet (new after a reload). */
  wire(): void {
    for (const s of this.#control.services.values()) {
      if (this.#wired.has(s)) continue;
      this.#wired.add(s);
      const service = s.name;
      s.pool.on('state', (ev: StateChange) => {
        this.#broadcast({ swy: 'members', members: [snapshotOf(service, ev.member, `${ev.cause.source}: ${ev.cause.detail}`)] });
      });
      s.pool.on('weight', (m: Member) => this.#broadcast({ swy: 'members', members: [snapshotOf(service, m, 'agent weight')] }));
    }
  }

  /** Sends a config to every serving worker; ok only when all of them applied it. */
  apply(config: Config): Promise<{ ok: boolean; errors: string[] }> {
    return this.#oneAtATime(async () => {
      const r = await this.#configure([...this.#serving], config);
      if (r.ok) {
        this.#config = config;
        const kept = new Set(config.services.filter((s) => s.listen.port === 0).map(portKey));
        for (const key of this.#ports.keys()) if (!kept.has(key)) this.#ports.delete(key);
      }
      return r;
    });
  }

  /**
   * Config changes and restarts, one at a time: a restarted worker serves before a reload begins
   * (so the reload reaches it) or starts from the config the reload left, never from the one before.
   */
  #oneAtATime<T>(change: () => Promise<T>): Promise<T> {
    const p = this.#changing.then(change);
    this.#changing = p.catch(() => undefined);
    return p;
  }

  get reusePort(): boolean {
    return this.#reusePort;
  }

  get count(): number {
    return this.#count;
  }

  broadcast(m: ToWorker): void {
    this.#broadcast(m);
  }

  /** Every serving worker's metrics (those that answer in time). */
  metrics(): Promise<Metrics[]> {
    const id = ++this.#metricSeq;
    const workers = [...this.#serving].filter((w) => w.isConnected());
    return new Promise((resolve) => {
      const got: Metrics[] = [];
      const waiting = new Set(workers.map((w) => w.id));
      const timer = setTimeout(() => {
        this.#logger.warn({ workers: [...waiting] }, 'metrics: workers did not answer in time');
        finish();
      }, METRICS_TIMEOUT);
      const finish = () => {
        clearTimeout(timer);
        this.#metricRequests.delete(id);
        resolve(got);
      };
      this.#metricRequests.set(id, { waiting, got, finish });
      for (const w of workers) w.send({ swy: 'metrics', id } satisfies ToWorker);
      if (waiting.size === 0) finish();
    });
  }

  /**
   * Workers stop accepting, drain up to drainTimeout, and exit; those that overstay are killed.
   * `closed` runs once none of them accepts new connections any more.
   */
  async stop(closed: () => void): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#snapshots);
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
    for (const w of workers) this.#open.add(w.id);
    this.#allClosed = closed;
    this.#closedOne(undefined);
    const grace = Math.max(0, ...this.#config.services.map((s) => s.drainTimeout)) + 5_000;
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const timer = setTimeout(() => {
              this.#logger.warn({ worker: w.process.pid }, 'worker did not stop in time; killing it');
              w.process.kill('SIGKILL');
            }, grace);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            if (w.isConnected()) w.send({ swy: 'stop' } satisfies ToWorker);
            else w.process.kill('SIGTERM');
          }),
      ),
    );
  }

  #fork(slot: number): Worker {
    const w = cluster.fork();
    this.#slots.set(w, slot);
    this.#born.set(w, Date.now());
    this.#listening.set(w, new Promise<void>((resolve) => this.#hello.set(w, resolve)));
    w.on('message', (m: unknown) => {
      this.#heard.set(w, Date.now());
      if (isFromWorker(m)) this.#onMessage(w, m);
    });
    w.on('exit', (code, signal) => this.#onExit(w, code, signal));
    // A send to a worker whose channel just closed fails here; its 'exit' follows and restarts it.
    w.on('error', (err: Error) => this.#logger.warn({ worker: w.process.pid, err: err.message }, 'worker channel error'));
    return w;
  }

  #killSilent(): void {
    const now = Date.now();
    for (const w of this.#serving) {
      const heard = this.#heard.get(w) ?? now;
      if (now - heard < SILENT_AFTER || w.isDead()) continue;
      this.#logger.error({ worker: w.process.pid, silentMs: now - heard }, 'worker stopped answering; killing it');
      this.#serving.delete(w);
      w.process.kill('SIGKILL');
    }
  }

  #closedOne(id: number | undefined): void {
    if (id !== undefined) this.#open.delete(id);
    if (this.#open.size > 0 || !this.#allClosed) return;
    const tell = this.#allClosed;
    this.#allClosed = undefined;
    tell();
  }

  #onExit(w: Worker, code: number | null, signal: string | null): void {
    this.#serving.delete(w);
    if (this.#stopping) this.#closedOne(w.id);
    this.#counts.delete(w.id);
    this.#view.forgetWorker(w.id);
    this.#sumCounts();
    for (const p of this.#pending.values()) {
      if (!p.waiting.delete(w.id)) continue;
      p.errors.push(`worker ${w.process.pid} exited (${signal ?? `code ${code}`})`);
      if (p.waiting.size === 0) p.finish();
    }
    for (const r of this.#metricRequests.values()) if (r.waiting.delete(w.id) && r.waiting.size === 0) r.finish();
    if (this.#stopping || !this.#controlStarted) return;
    if (Date.now() - (this.#born.get(w) ?? 0) >= STABLE_AFTER) this.#failures = 0;
    const delay = Math.min(RESTART_MAX, RESTART_MIN * 2 ** this.#failures);
    this.#failures++;
    this.#logger.error({ worker: w.process.pid, code, signal, restartInMs: delay }, 'worker exited; restarting it');
    const slot = this.#slots.get(w) ?? 0;
    setTimeout(() => {
      this.#restart(slot).catch((err: unknown) => this.#logger.error({ err }, 'worker restart failed'));
    }, delay).unref();
  }

  #restart(slot: number): Promise<void> {
    return this.#oneAtATime(async () => {
      if (this.#stopping) return;
      const w = this.#fork(slot);
      this.#logger.info({ worker: w.process.pid }, 'worker forked; sending it the config');
      const r = await this.#configure([w], this.#config);
      if (!r.ok) {
        this.#logger.error({ errors: r.errors }, 'restarted worker could not serve');
        if (!w.isDead()) w.process.kill('SIGKILL');
        return;
      }
      this.#serving.add(w);
      this.#restarts.set(slot, (this.#restarts.get(slot) ?? 0) + 1);
      this.#restartsTotal.inc();
      // It took the states as they were when its config went out; transitions since went only to the others.
      w.send({ swy: 'members', members: this.#snapshot() } satisfies ToWorker);
      this.#logger.info({ worker: w.process.pid }, 'worker restarted');
    });
  }

  /**
   * Sends a config to workers; ok only when all of them applied it. With reusePort, every worker
   * binds its own socket, so a listener on port 0 must get the same port in all of them: the
   * first worker binds it, and the others are sent the port it got.
   */
  async #configure(workers: Worker[], config: Config): Promise<{ ok: boolean; errors: string[] }> {
    if (!this.#reusePort) return this.#send(workers, config);
    const [first, ...rest] = workers;
    const staged = first !== undefined && rest.length > 0 && this.#hasUnboundPort(config);
    const r = await this.#send(staged ? [first] : workers, this.#pinPorts(config));
    if (!r.ok) return r;
    for (const s of config.services) {
      const bound = this.#view.address(s.name);
      if (s.listen.port === 0 && bound !== undefined) this.#ports.set(portKey(s), bound.port);
    }
    return staged ? this.#send(rest, this.#pinPorts(config)) : r;
  }

  #hasUnboundPort(config: Config): boolean {
    return config.services.some((s) => s.listen.port === 0 && !this.#ports.has(portKey(s)));
  }

  /** The config with each port-0 listener's port as a worker bound it, where one did. */
  #pinPorts(config: Config): Config {
    const services = config.services.map((s) => {
      const port = s.listen.port === 0 ? this.#ports.get(portKey(s)) : undefined;
      return port === undefined ? s : { ...s, listen: { ...s.listen, port } };
    });
    return { ...config, services };
  }

  #send(workers: Worker[], config: Config): Promise<{ ok: boolean; errors: string[] }> {
    const seq = ++this.#seq;
    const reusePort = this.#reusePort;
    return new Promise((resolve) => {
      const p: Pending = {
        waiting: new Set(workers.map((w) => w.id)),
        errors: [],
        finish: () => {
          clearTimeout(timer);
          this.#pending.delete(seq);
          resolve({ ok: p.errors.length === 0, errors: p.errors });
        },
      };
      const timer = setTimeout(() => {
        p.errors.push(`workers did not apply the config within ${APPLY_TIMEOUT} ms`);
        p.finish();
      }, APPLY_TIMEOUT);
      this.#pending.set(seq, p);
      const send = (w: Worker) => {
        const slot = this.#slots.get(w) ?? 0;
        const share = workerShare(config, slot, this.#count);
        const holds = [...this.#control.services.values()].filter((s) => s.pool.holdsOnBackups).map((s) => s.name);
        w.send({ swy: 'config', seq, config: share, reusePort, slot, members: this.#snapshot(), holds } satisfies ToWorker);
      };
      for (const w of workers) void this.#listening.get(w)?.then(() => send(w));
      if (p.waiting.size === 0) p.finish();
    });
  }

  #onMessage(w: Worker, m: FromWorker): void {
    switch (m.swy) {
      case 'closed':
        this.#closedOne(w.id);
        return;
      case 'hello':
        this.#hello.get(w)?.();
        return;
      case 'applied': {
        const p = this.#pending.get(m.seq);
        if (m.ok) for (const [name, a] of Object.entries(m.addresses)) this.#view.setAddress(name, a);
        if (!p || !p.waiting.delete(w.id)) return;
        if (!m.ok) p.errors.push(...m.errors);
        if (p.waiting.size === 0) p.finish();
        return;
      }
      case 'connect': {
        const s = this.#control.services.get(m.service);
        const member = s?.pool.get(m.member);
        if (s && member && s.listener instanceof ControlListener) s.listener.connectResult(member, m.ok, m.error, m.durationMs);
        return;
      }
      case 'stats':
        this.#onStats(w, m.services);
        return;
      case 'metrics': {
        const r = this.#metricRequests.get(m.id);
        if (!r || !r.waiting.delete(w.id)) return;
        r.got.push(m.metrics);
        if (r.waiting.size === 0) r.finish();
        return;
      }
    }
  }

  /** Adds each worker's new bytes to the primary's members and sums their open connections. */
  #onStats(w: Worker, services: ServiceStats[]): void {
    let byService = this.#counts.get(w.id);
    if (!byService) this.#counts.set(w.id, (byService = new Map()));
    const control = this.#control;
    for (const s of services) {
      this.#view.setActive(w.id, s.name, s.active);
      let byMember = byService.get(s.name);
      if (!byMember) byService.set(s.name, (byMember = new Map()));
      const pool = control.services.get(s.name)?.pool;
      for (const [id, active, bytesIn, bytesOut] of s.members) {
        const last = byMember.get(id);
        const member = pool?.get(id);
        if (member) {
          // A count lower than the last is a member the worker replaced (reload): it counts from zero.
          member.bytesIn += last && bytesIn >= last.bytesIn ? bytesIn - last.bytesIn : bytesIn;
          member.bytesOut += last && bytesOut >= last.bytesOut ? bytesOut - last.bytesOut : bytesOut;
        }
        byMember.set(id, { active, bytesIn, bytesOut });
      }
    }
    this.#sumCounts();
  }

  #sumCounts(): void {
    for (const s of this.#control.services.values()) {
      for (const m of s.pool.members) {
        let active = 0;
        for (const byService of this.#counts.values()) active += byService.get(s.name)?.get(m.id)?.active ?? 0;
        m.active = active;
      }
    }
  }

  #snapshot(): MemberSnapshot[] {
    const out: MemberSnapshot[] = [];
    for (const s of this.#control.services.values()) for (const m of s.pool.members) out.push(snapshotOf(s.name, m, 'snapshot'));
    return out;
  }

  #broadcast(m: ToWorker): void {
    for (const w of this.#serving) if (w.isConnected()) w.send(m);
  }
}

/** A port-0 listener, told apart from one that replaces it on another address or protocol. */
function portKey(s: ServiceConfig): string {
  return `${s.name} ${s.protocol} ${s.listen.host}`;
}

function snapshotOf(service: string, m: Member, detail: string): MemberSnapshot {
  return { service, id: m.id, flags: [...m.flags], agentPercent: m.agentPercent, detail };
}

/** The control plane: a Switchyard of role 'control' whose reload, admin actions and metrics reach the workers. */
class ClusterControl extends Switchyard {
  readonly #fleet: Fleet;
  readonly #file: string | undefined;
  #reloading: Promise<ReloadResult> = Promise.resolve({ ok: true });

  constructor(config: Config, options: BalancerOptions, fleet: (control: Switchyard) => Fleet) {
    super(config, options);
    this.#file = options.configFile;
    this.#fleet = fleet(this);
  }

  get fleet(): Fleet {
    return this.#fleet;
  }

  override memberAction(service: string, member: string, action: MemberAction): 'ok' | 'no-service' | 'no-member' {
    const r = super.memberAction(service, member, action);
    // The flags already went out with the transition; the workers' pools hold their own failback.
    if (r === 'ok' && action === 'enable') this.#fleet.broadcast({ swy: 'release-failback', service });
    return r;
  }

  override status(): Status {
    return { ...super.status(), workers: this.#fleet.workers() };
  }

  override async metrics(): Promise<{ contentType: string; body: string }> {
    const [workers, own] = await Promise.all([this.#fleet.metrics(), this.metricsRegistry.getMetricsAsJSON()]);
    const merged = AggregatorRegistry.aggregate([...workers, own]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  /** The workers apply the config first; if any of them cannot, they go back to the running one and it stays. */
  override reload(next?: Config): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
      let config: Config;
      try {
        if (next) config = next;
        else if (this.#file) config = await loadConfigFile(this.#file);
        else return { ok: false, errors: ['no config file to reload from'] };
      } catch (err) {
        return this.#refuse(errorLines(err));
      }
      const applied = await this.#fleet.apply(config);
      if (!applied.ok) {
        await this.#fleet.apply(this.config);
        return this.#refuse(applied.errors);
      }
      const before = this.config;
      const r = await super.reload(config);
      if (r.ok) {
        warnSharedUdp(this.logger, this.#fleet.reusePort, config, before);
        warnUnsplittable(this.logger, this.#fleet.count, config, before);
      }
      else await this.#fleet.apply(this.config);
      this.#fleet.wire();
      return r;
    };
    const p = this.#reloading.then(run, run);
    this.#reloading = p;
    return p;
  }

  #refuse(errors: string[]): ReloadResult {
    this.logger.error({ code: 'SWY_ERR_RELOAD', errors }, 'reload refused; the running config stays');
    return { ok: false, errors };
  }
}

/**
 * Without reusePort the workers share each UDP socket, so one client's datagrams may reach several
 * workers, each with a session (and member) of its own: said for the UDP services `config` has and
 * `before` (the running config, on a reload) did not.
 */
function warnSharedUdp(logger: Logger, reusePort: boolean, config: Config, before: Config | undefined): void {
  if (reusePort) return;
  const had = new Set(before?.services.map((s) => `${s.protocol} ${s.name}`));
  const udp = config.services.filter((s) => s.protocol === 'udp' && !had.has(`udp ${s.name}`)).map((s) => s.name);
  if (udp.length === 0) return;
  logger.warn(
    { services: udp, node: process.version },
    'UDP with workers on a Node.js without reusePort (before 22.12): the workers share one socket, so one client\'s datagrams may reach several workers, each with a session and member of its own; run Node.js >= 22.12, or workers: 1, for one session per client',
  );
}

/** Limits the workers cannot split exactly (limits.ts), that `config` has and `before` did not. */
function warnUnsplittable(logger: Logger, workers: number, config: Config, before: Config | undefined): void {
  const had = new Set(before ? unsplittable(before, workers) : []);
  const limits = unsplittable(config, workers).filter((l) => !had.has(l));
  if (limits.length === 0) return;
  logger.warn(
    { limits, workers },
    'limits below the number of workers: each worker allows 1, so up to one per worker at once; use workers: 1 to hold them exactly',
  );
}

/** Starts the primary and its workers; the caller wires signals to what it returns. */
export async function runPrimary(
  config: Config,
  configFile: string | undefined,
  logger: Logger,
): Promise<{ reload(): Promise<unknown>; stop(signal: string): Promise<void> }> {
  // Both must be set before the first fork.
  cluster.schedulingPolicy = SCHEDULING;
  cluster.setupPrimary({ serialization: 'advanced' });
  const reusePort = await reusePortWorks();
  const view = new WorkerView();
  const control = new ClusterControl(
    config,
    { configFile, logger, role: 'control', view },
    (c) => new Fleet(config, logger, view, c, reusePort),
  );
  const fleet = control.fleet;
  const fatal = async (err: unknown): Promise<never> => {
    logger.fatal({ err }, 'cannot start');
    await fleet.stop(() => {});
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    process.exit(1);
  };
  try {
    await fleet.start();
  } catch (err) {
    return fatal(err);
  }
  try {
    await control.start();
  } catch (err) {
    return fatal(err);
  }
  fleet.controlStarted();
  logger.info(
    {
      workers: config.workers,
      listeners: reusePort ? 'one per worker (SO_REUSEPORT)' : 'shared',
      scheduling: SCHEDULING === cluster.SCHED_NONE ? 'kernel' : 'round-robin',
    },
    'workers serving',
  );
  warnSharedUdp(logger, reusePort, config, undefined);
  warnUnsplittable(logger, fleet.count, config, undefined);

  return {
    reload: () => control.reload(),
    stop: async (signal) => {
      logger.info({ signal }, 'stopping: workers close their listeners');
      // 'stopping' (as one process logs it) once no worker takes new connections.
      await fleet.stop(() => logger.info({ signal }, 'stopping'));
      await control.stop();
    },
  };
}

/**
 * The composition root: config → services, observers and the admin API;
 * reload (a refused config leaves the running one in place) and graceful stop.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { startAdmin, type AdminServer, type AdminTarget } from './admin/server.js';
import { renderStatus, type Status } from './admin/status.js';
import { loadConfigFile } from './config/load.js';
import type { Config, ServiceConfig } from './config/types.js';
import { formatAddress, formatEndpoint } from './net/address.js';
import { watchAccessLog } from './observe/access-log.js';
import { watchListenerErrors } from './observe/listener-errors.js';
import { createLogger } from './observe/logger.js';
import { Metrics } from './observe/metrics.js';
import { watchTransitions } from './observe/transitions-log.js';
import type { Registry } from 'prom-client';
import type { WorkerView } from './cluster/control-listener.js';
import { Service, type MemberAction, type ServiceRole } from './service.js';

export interface BalancerOptions {
  /** Where the config came from; `reload()` without an argument reads it again. */
  configFile?: string;
  logger?: Logger;
  /** `workers: N` (src/cluster): 'control' in the primary, 'data' in each worker; 'all' (default) is one process. */
  role?: ServiceRole;
  /** Role 'control': what the workers report (bound addresses, open connections). */
  view?: WorkerView;
  /** Role 'data': listeners bind sockets of this worker's own with SO_REUSEPORT (net/reuse-port.ts). */
  reusePort?: boolean;
  /** Role 'data': the worker's slot, where its pools' rotations start (pool/types.ts). */
  phase?: number;
  /**
   * Runs for each service of `start()` after it is built and before its listener binds: a worker
   * the primary restarts copies the primary's member states there, so it never routes by its own.
   */
  beforeListen?: (service: Service) => void;
}

export interface ReloadResult {
  ok: boolean;
  errors?: string[];
}

/** The new config keeps this service's socket: same protocol and address (port 0 matches the port it bound). */
function sameListener(old: Service, next: ServiceConfig): boolean {
  const was = old.config;
  if (was.protocol !== next.protocol || was.listen.host !== next.listen.host) return false;
  return was.listen.port === next.listen.port || (was.listen.port === 0 && old.listener.address().port === next.listen.port);
}

export class Switchyard implements AdminTarget {
  config: Config;
  readonly logger: Logger;
  readonly role: ServiceRole;
  readonly #view: WorkerView | undefined;
  readonly #reusePort: boolean;
  readonly #phase: number;
  readonly #beforeListen: ((service: Service) => void) | undefined;
  readonly #metrics: Metrics;
  readonly services = new Map<string, Service>();
  #configFile: string | undefined;
  #unwatch = new Map<Service, Array<() => void>>();
  #admin: AdminServer | undefined;
  #started = Date.now();
  #stopping: Promise<void> | undefined;
  #reloading: Promise<ReloadResult> | undefined;

  constructor(config: Config, options: BalancerOptions = {}) {
    this.config = config;
    this.#configFile = options.configFile;
    this.role = options.role ?? 'all';
    this.#view = options.view;
    this.#reusePort = options.reusePort ?? false;
    this.#phase = options.phase ?? 0;
    this.#beforeListen = options.beforeListen;
    // Across workers, each side reports only what it owns, so summing them counts everything once.
    this.#metrics = new Metrics({ scope: this.role });
    this.logger = options.logger ?? createLogger({ level: config.log.level });
  }

  async start(): Promise<void> {
    const started: Service[] = [];
    try {
      for (const sc of this.config.services) started.push(await this.#startService(sc));
      if (this.config.admin) this.#admin = await startAdmin(this.config.admin, this, this.logger);
    } catch (err) {
      for (const s of started) this.#dropService(s, 'shutdown');
      throw err;
    }
    this.#started = Date.now();
    // Workers serve the listeners but the primary announces them, once.
    if (this.role === 'data') return;
    for (const s of this.services.values()) {
      this.logger.info({ service: s.name, listen: formatAddress(this.address(s.name)), protocol: s.config.protocol }, 'listening');
    }
  }

  /** The bound address of a service's listener (port 0 in the config resolves here). */
  address(service: string): AddressInfo {
    const s = this.services.get(service);
    if (!s) throw new Error(`no service named ${service}`);
    return s.listener.address();
  }

  adminAddress(): AddressInfo | undefined {
    return this.#admin?.address();
  }

  status(): Status {
    return renderStatus(this.services.values(), this.#started);
  }

  memberAction(service: string, member: string, action: MemberAction): 'ok' | 'no-service' | 'no-member' {
    const s = this.services.get(service);
    if (!s) return 'no-service';
    return s.memberAction(member, action) ? 'ok' : 'no-member';
  }

  /** Prometheus text for every service (GET /metrics). */
  async metrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.#metrics.registry.contentType, body: await this.#metrics.registry.metrics() };
  }

  /** This instance's own metrics registry (the cluster primary merges it with the workers'). */
  get metricsRegistry(): Registry {
    return this.#metrics.registry;
  }

  /** Applies a new config, or re-reads the config file. A config that fails to load or bind is refused whole. */
  reload(next?: Config): Promise<ReloadResult> {
    // A worker applies what the primary sends and answers it; the primary tells the outcome, once for all.
    const announce = this.role !== 'data';
    const run = async (): Promise<ReloadResult> => {
      let config: Config;
      try {
        if (next) config = next;
        else if (this.#configFile) config = await loadConfigFile(this.#configFile);
        else return { ok: false, errors: ['no config file to reload from'] };
        await this.#apply(config);
      } catch (err) {
        const errors = errorLines(err);
        if (announce) this.logger.error({ code: 'SWY_ERR_RELOAD', errors }, 'reload refused; the running config stays');
        return { ok: false, errors };
      }
      if (announce) this.logger.info({ services: config.services.map((s) => s.name) }, 'config reloaded');
      return { ok: true };
    };
    // Reloads run one at a time, in the order asked.
    const p = (this.#reloading ?? Promise.resolve({ ok: true })).then(run, run);
    this.#reloading = p;
    return p;
  }

  /** Stops accepting, lets open connections finish up to each service's drainTimeout, then closes them. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const services = [...this.services.values()];
    this.logger.info({ active: services.reduce((n, s) => n + s.listener.activeCount, 0) }, 'stopping: draining open connections');
    await Promise.all(services.map((s) => s.stopAccepting()));
    await Promise.all(services.map((s) => drained(s, s.config.drainTimeout)));
    for (const s of services) this.#dropService(s, 'shutdown');
    await this.#admin?.close();
    this.#admin = undefined;
    this.logger.info('stopped');
    await new Promise<void>((resolve) => this.logger.flush(() => resolve()));
  }

  async #apply(config: Config): Promise<void> {
    const added: Service[] = [];
    const replaced: Service[] = [];
    try {
      for (const sc of config.services) {
        const old = this.services.get(sc.name);
        if (old && sameListener(old, sc)) continue;
        const s = this.#newService(sc);
        await s.start();
        added.push(s);
        if (old) replaced.push(old);
      }
    } catch (err) {
      for (const s of added) s.close('shutdown');
      throw err;
    }
    const names = new Set(config.services.map((s) => s.name));
    const retired = [...replaced, ...[...this.services.values()].filter((s) => !names.has(s.name))];
    for (const s of retired) this.#retire(s);
    for (const sc of config.services) {
      const old = this.services.get(sc.name);
      if (old && !retired.includes(old) && sameListener(old, sc)) old.update(sc);
    }
    for (const s of added) this.#track(s);
    await this.#applyAdmin(config);
    this.logger.level = config.log.level;
    if (config.workers !== this.config.workers) this.logger.warn('a change of workers takes effect at the next start');
    this.config = config;
  }

  async #applyAdmin(config: Config): Promise<void> {
    const before = this.config.admin;
    const after = config.admin;
    const same =
      before && after && formatEndpoint(before.listen) === formatEndpoint(after.listen) && before.token === after.token;
    if (same || (!before && !after)) return;
    const next = after ? await startAdmin(after, this, this.logger) : undefined;
    await this.#admin?.close();
    this.#admin = next;
  }

  async #startService(sc: ServiceConfig): Promise<Service> {
    const s = this.#newService(sc);
    this.#beforeListen?.(s);
    await s.start();
    this.#track(s);
    return s;
  }

  #newService(sc: ServiceConfig): Service {
    return new Service(sc, { role: this.role, view: this.#view, reusePort: this.#reusePort, phase: this.#phase });
  }

  #track(s: Service): void {
    this.services.set(s.name, s);
    this.#metrics.watch(s);
    const unwatch = [() => this.#metrics.unwatch(s)];
    // Workers mirror the primary's transitions; the primary logs them once. Sessions are the workers'.
    if (this.role !== 'data') unwatch.push(watchTransitions(this.logger, s));
    if (this.config.log.access && this.role !== 'control') unwatch.push(watchAccessLog(this.logger, s));
    if (this.role !== 'control') unwatch.push(watchListenerErrors(this.logger, s));
    if (this.role !== 'data') {
      const onDiscovered = (members: string[]) => this.logger.info({ service: s.name, members }, 'discovery: members changed');
      const onDiscoveryError = (err: Error) =>
        this.logger.warn({ service: s.name, err: err.message }, 'discovery: lookup failed; members stay as they were');
      s.on('discovered', onDiscovered).on('discovery-error', onDiscoveryError);
      unwatch.push(() => s.off('discovered', onDiscovered).off('discovery-error', onDiscoveryError));
    }
    this.#unwatch.set(s, unwatch);
  }

  /** A service leaving the config: no new connections; open ones finish up to its drainTimeout. */
  #retire(s: Service): void {
    if (this.services.get(s.name) === s) this.services.delete(s.name);
    void s.stopAccepting().then(() => drained(s, s.config.drainTimeout)).then(() => this.#dropService(s, 'shutdown'));
  }

  #dropService(s: Service, reason: 'shutdown'): void {
    s.close(reason);
    for (const u of this.#unwatch.get(s) ?? []) u();
    this.#unwatch.delete(s);
    if (this.services.get(s.name) === s) this.services.delete(s.name);
  }
}

/** Resolves when the service has no open connection, or after `timeout` ms (0 = no limit). */
function drained(s: Service, timeout: number): Promise<void> {
  if (s.listener.activeCount === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      s.listener.off('session-end', onEnd);
      clearTimeout(timer);
      resolve();
    };
    const onEnd = () => {
      if (s.listener.activeCount === 0) finish();
    };
    const timer = timeout > 0 ? setTimeout(finish, timeout) : undefined;
    s.listener.on('session-end', onEnd);
  });
}

function errorLines(err: unknown): string[] {
  const issues = (err as { issues?: unknown[] }).issues;
  if (Array.isArray(issues)) return issues.map(String);
  return [err instanceof Error ? err.message : String(err)];
}

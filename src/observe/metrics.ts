/**
 * Prometheus metrics for one balancer instance, in a registry of its own
 * (never prom-client's global one, so two balancers in a process stay apart).
 *
 * Two kinds of series:
 * - read at scrape time from the members (state, weight, open connections,
 *   bytes, ejections), so the data path does no metric work per chunk;
 * - counted from listener and pool events (one per connection or transition),
 *   into plain numbers held per label set, resolved once; they reach
 *   prom-client when scraped (its own inc() and observe() hash the labels on
 *   every call).
 *
 * Members are read from the pool at scrape time, so members added or removed
 * later (reload, discovery) need nothing more; a removed member is still read
 * while it has open connections, so its last bytes are counted.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Member, MemberState, StateChange } from '../pool/member.js';
import type { Pool, RoutingMode } from '../pool/pool.js';
import type { ConnectResult, DropEvent, EndReason, Listener, SessionRecord } from '../proxy/types.js';
import { FastHistogram, type HistogramChild } from './histogram.js';
import { version } from './version.js';

/** What `watch` needs of a service (src/service.ts provides it). */
export interface MetricsSource {
  readonly name: string;
  readonly pool: Pool;
  readonly listener: Pick<Listener, 'on' | 'off'>;
}

export interface MetricsOptions {
  /** Process and Node.js runtime metrics (CPU, memory, event loop lag), prefixed `switchyard_`. Default true. */
  processMetrics?: boolean;
  /**
   * With `workers: N`, what this process reports so that summing every
   * process's metrics counts each thing once: 'data' (a worker) counts its
   * connections from listener events; 'control' (the primary) reports member
   * state, open connections, bytes, ejections and transitions; 'all' (one
   * process, the default) does both.
   */
  scope?: 'all' | 'control' | 'data';
}

const STATES: readonly MemberState[] = ['unknown', 'up', 'draining', 'down', 'disabled'];
const MODES: readonly RoutingMode[] = ['primary', 'backup', 'pending', 'panic', 'none'];

/** Ends where no member served the client: they are the `result` themselves. */
const REFUSALS: ReadonlySet<EndReason> = new Set<EndReason>([
  'connect-failed',
  'no-member',
  'refused-acl',
  'refused-max-connections',
  'proxy-header',
]);

/** The `result` label of a finished connection: 'ok' when a member served it, otherwise why not. */
export function connectionResult(record: SessionRecord): string {
  if (REFUSALS.has(record.end) || record.member === undefined) return record.end;
  return 'ok';
}

/** Counts for one label set of a counter, handed to prom-client at scrape time (flush). */
class Tally {
  readonly #child: { inc(value: number): void };
  #pending = 0;

  constructor(child: { inc(value: number): void }) {
    this.#child = child;
  }

  inc(value = 1): void {
    this.#pending += value;
  }

  flush(): void {
    if (this.#pending === 0) return;
    this.#child.inc(this.#pending);
    this.#pending = 0;
  }
}

/**
 * One service's tallies of a counter keyed by up to two label values,
 * each resolved once; remembered so they can be flushed and the service's series removed.
 */
class Children {
  readonly #counter: Counter<string>;
  readonly #labels: (a: string, b: string) => Record<string, string>;
  readonly #byA = new Map<string, Map<string, Tally>>();
  /** Every label set made, with its tally: flushed at scrape, removed on forget. */
  readonly #made: { labels: Record<string, string>; tally: Tally }[] = [];

  constructor(counter: Counter<string>, labels: (a: string, b: string) => Record<string, string>) {
    this.#counter = counter;
    this.#labels = labels;
  }

  get(a: string, b = ''): Tally {
    let byB = this.#byA.get(a);
    if (byB === undefined) {
      byB = new Map();
      this.#byA.set(a, byB);
    }
    let child = byB.get(b);
    if (child === undefined) {
      const labels = this.#labels(a, b);
      this.#counter.inc(labels, 0);
      child = new Tally(this.#counter.labels(labels));
      byB.set(b, child);
      this.#made.push({ labels, tally: child });
    }
    return child;
  }

  flush(): void {
    for (const { tally } of this.#made) tally.flush();
  }

  forget(): void {
    for (const { labels } of this.#made) this.#counter.remove(labels);
    this.#made.length = 0;
    this.#byA.clear();
  }
}

/** Last values read from one member, for the counters fed by deltas at scrape time. */
interface Tracked {
  bytesIn: number;
  bytesOut: number;
  ejections: number;
  in: Tally;
  out: Tally;
  ejected: Tally;
}

/** Everything kept for one service name; it outlives a reload that replaces the service object. */
class ServiceSeries {
  readonly name: string;
  /** Watched services of this name, newest last (a replaced one stays until it is unwatched). */
  readonly sources: MetricsSource[] = [];
  readonly unsubscribe = new Map<MetricsSource, () => void>();
  readonly tracked = new Map<Member, Tracked>();
  readonly connections: Children;
  readonly transitions: Children;
  readonly connectFailures: Children;
  readonly datagrams: Children;
  readonly drops: Children;
  readonly reroutes: Children;
  readonly bytes: Children;
  readonly ejections: Children;
  readonly duration: HistogramChild;
  readonly connectDuration: HistogramChild;

  constructor(service: string, m: Definitions) {
    this.name = service;
    this.connections = new Children(m.connectionsTotal, (member, result) => ({ service, member, result }));
    this.transitions = new Children(m.transitionsTotal, (member, to) => ({ service, member, to }));
    this.connectFailures = new Children(m.connectFailuresTotal, (member, error) => ({ service, member, error }));
    this.datagrams = new Children(m.udpDatagramsTotal, (member, direction) => ({ service, member, direction }));
    this.drops = new Children(m.udpDropsTotal, (reason) => ({ service, reason }));
    this.reroutes = new Children(m.reroutesTotal, () => ({ service }));
    this.bytes = new Children(m.bytesTotal, (member, direction) => ({ service, member, direction }));
    this.ejections = new Children(m.ejectionsTotal, (member) => ({ service, member }));
    this.duration = m.connectionDuration.labels({ service });
    this.connectDuration = m.connectDuration.labels({ service });
  }

  /** Starts reading a member at zero, so every byte it relays is counted once. */
  track(member: Member): void {
    if (this.tracked.has(member)) return;
    this.connections.get(member.id, 'ok');
    this.tracked.set(member, {
      bytesIn: 0,
      bytesOut: 0,
      ejections: 0,
      in: this.bytes.get(member.id, 'in'),
      out: this.bytes.get(member.id, 'out'),
      ejected: this.ejections.get(member.id),
    });
  }

  trackAll(): void {
    for (const s of this.sources) for (const m of s.pool.members) this.track(m);
  }

  /** Hands every tally to prom-client. */
  flush(): void {
    for (const c of this.#children()) c.flush();
  }

  forget(): void {
    for (const c of this.#children()) c.forget();
    this.tracked.clear();
  }

  #children(): Children[] {
    return [
      this.connections,
      this.transitions,
      this.connectFailures,
      this.datagrams,
      this.drops,
      this.reroutes,
      this.bytes,
      this.ejections,
    ];
  }
}

/** Every metric of one registry. Gauges and counters share one `collect` hook (scrape-time reads, tally flush). */
function define(registry: Registry, collect: () => void) {
  const registers = [registry];
  const gauge = (name: string, help: string, labelNames: string[]) =>
    new Gauge({ name, help, labelNames, registers, collect });
  const counter = (name: string, help: string, labelNames: string[]) =>
    new Counter({ name, help, labelNames, registers, collect });

  new Gauge({
    name: 'switchyard_build_info',
    help: 'Always 1; the labels name the running version',
    labelNames: ['version', 'node'],
    registers,
    aggregator: 'first',
  }).set({ version, node: process.version }, 1);

  return {
    memberUp: gauge('switchyard_member_up', '1 while the member is up, 0 otherwise', ['service', 'member']),
    memberState: gauge(
      'switchyard_member_state',
      "1 for the member's current state (unknown, up, draining, down, disabled), 0 for the others",
      ['service', 'member', 'state'],
    ),
    memberWeight: gauge(
      'switchyard_member_weight',
      'Effective weight now: configured weight x agent percentage x slow-start ramp',
      ['service', 'member'],
    ),
    memberRouting: gauge(
      'switchyard_member_routing',
      '1 while the member takes new connections (in the routing set), 0 otherwise',
      ['service', 'member'],
    ),
    connectionsActive: gauge(
      'switchyard_connections_active',
      'Open connections (tcp) or sessions (udp) on the member',
      ['service', 'member'],
    ),
    lastCheckSuccess: gauge(
      'switchyard_member_last_check_success',
      "1 when the member's last active health check passed, 0 when it failed",
      ['service', 'member'],
    ),
    lastCheckDuration: gauge(
      'switchyard_member_last_check_duration_seconds',
      "How long the member's last active health check took",
      ['service', 'member'],
    ),
    routingMode: gauge(
      'switchyard_service_routing_mode',
      'Which members take new connections: 1 for the current mode (primary, backup, pending, panic, none)',
      ['service', 'mode'],
    ),
    bytesTotal: counter(
      'switchyard_bytes_total',
      'Bytes relayed; direction in = client to member, out = member to client',
      ['service', 'member', 'direction'],
    ),
    ejectionsTotal: counter(
      'switchyard_member_ejections_total',
      'Times passive outlier detection ejected the member',
      ['service', 'member'],
    ),
    connectionsTotal: counter(
      'switchyard_connections_total',
      "Finished connections (tcp) or sessions (udp); result ok when a member served it, else why not (member '' when none was tried)",
      ['service', 'member', 'result'],
    ),
    transitionsTotal: counter(
      'switchyard_member_transitions_total',
      'Member state changes, by the state entered',
      ['service', 'member', 'to'],
    ),
    connectFailuresTotal: counter(
      'switchyard_connect_failures_total',
      'Failed attempts to reach a member (refused, timeout, unreachable, silent, ...)',
      ['service', 'member', 'error'],
    ),
    udpDatagramsTotal: counter(
      'switchyard_udp_datagrams_total',
      'Datagrams relayed, counted when the session ends; direction in = client to member, out = member to client',
      ['service', 'member', 'direction'],
    ),
    udpDropsTotal: counter('switchyard_udp_drops_total', 'Datagrams dropped, by reason', ['service', 'reason']),
    reroutesTotal: counter(
      'switchyard_reroutes_total',
      'Sessions moved to another member (udp failover, tcp replay on silence)',
      ['service'],
    ),
    connectionDuration: new FastHistogram({
      name: 'switchyard_connection_duration_seconds',
      help: 'Lifetime of connections (tcp) or sessions (udp) a member served',
      labelNames: ['service'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
      registry,
    }),
    connectDuration: new FastHistogram({
      name: 'switchyard_connect_duration_seconds',
      help: 'Time to establish a connection to a member (successful attempts)',
      labelNames: ['service'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registry,
    }),
  };
}

type Definitions = ReturnType<typeof define>;

export class Metrics {
  readonly registry = new Registry();
  readonly #m: Definitions;
  readonly #series = new Map<string, ServiceSeries>();
  #collected = false;
  readonly #scope: 'all' | 'control' | 'data';

  constructor(options: MetricsOptions = {}) {
    this.#scope = options.scope ?? 'all';
    this.#m = define(this.registry, () => this.#collectOnce());
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });
  }

  /**
   * Starts counting a service. Watching a second service of the same name (a
   * reload that replaced it) adds to the same series; each is unwatched on its own.
   */
  watch(service: MetricsSource): void {
    let series = this.#series.get(service.name);
    if (series === undefined) {
      series = new ServiceSeries(service.name, this.#m);
      this.#series.set(service.name, series);
    }
    if (series.unsubscribe.has(service)) return;
    series.sources.push(service);
    series.unsubscribe.set(service, subscribe(series, service, this.#scope));
    for (const m of service.pool.members) series.track(m);
  }

  /** Stops counting a service; when no service of its name is left, its series are removed. */
  unwatch(service: MetricsSource): void {
    const series = this.#series.get(service.name);
    const unsubscribe = series?.unsubscribe.get(service);
    if (series === undefined || unsubscribe === undefined) return;
    unsubscribe();
    series.unsubscribe.delete(service);
    series.sources.splice(series.sources.indexOf(service), 1);
    if (series.sources.length > 0) return;
    series.forget();
    this.#m.connectionDuration.remove({ service: service.name });
    this.#m.connectDuration.remove({ service: service.name });
    this.#series.delete(service.name);
  }

  /** The exposition for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Unwatches every service. */
  close(): void {
    for (const series of [...this.#series.values()]) for (const s of [...series.sources]) this.unwatch(s);
  }

  #collectOnce(): void {
    // All collect hooks of one scrape run in the same synchronous pass; collect once for all of them.
    if (this.#collected) return;
    this.#collected = true;
    queueMicrotask(() => {
      this.#collected = false;
    });
    if (this.#scope !== 'data') this.#refresh();
    for (const series of this.#series.values()) series.flush();
  }

  #refresh(): void {
    const g = this.#m;
    for (const gauge of [
      g.memberUp,
      g.memberState,
      g.memberWeight,
      g.memberRouting,
      g.connectionsActive,
      g.lastCheckSuccess,
      g.lastCheckDuration,
      g.routingMode,
    ]) {
      gauge.reset();
    }
    const now = Date.now();
    for (const series of this.#series.values()) {
      const service = series.name;
      series.trackAll();
      // Later sources (the service that replaced an older one) win for the member's state.
      const current = new Map<string, Member>();
      const routing = new Set<Member>();
      for (const s of series.sources) {
        for (const member of s.pool.members) current.set(member.id, member);
        for (const member of s.pool.routing) routing.add(member);
      }
      const active = new Map<string, number>();
      for (const [member, t] of series.tracked) {
        flushDeltas(member, t);
        active.set(member.id, (active.get(member.id) ?? 0) + member.active);
        // A member gone from the pool is read until its last connection ends, then dropped.
        if (current.get(member.id) !== member && member.active === 0) series.tracked.delete(member);
      }
      for (const [id, n] of active) g.connectionsActive.set({ service, member: id }, n);
      for (const [id, member] of current) {
        const labels = { service, member: id };
        g.memberUp.set(labels, member.state === 'up' ? 1 : 0);
        for (const state of STATES) g.memberState.set({ service, member: id, state }, member.state === state ? 1 : 0);
        g.memberWeight.set(labels, member.weight(now));
        g.memberRouting.set(labels, routing.has(member) ? 1 : 0);
        if (member.lastCheck !== undefined) {
          g.lastCheckSuccess.set(labels, member.lastCheck.ok ? 1 : 0);
          g.lastCheckDuration.set(labels, member.lastCheck.durationMs / 1000);
        }
      }
      const mode = series.sources[series.sources.length - 1]!.pool.mode;
      for (const each of MODES) g.routingMode.set({ service, mode: each }, each === mode ? 1 : 0);
    }
  }
}

function flushDeltas(m: Member, t: Tracked): void {
  if (m.bytesIn > t.bytesIn) t.in.inc(m.bytesIn - t.bytesIn);
  if (m.bytesOut > t.bytesOut) t.out.inc(m.bytesOut - t.bytesOut);
  if (m.ejections > t.ejections) t.ejected.inc(m.ejections - t.ejections);
  t.bytesIn = m.bytesIn;
  t.bytesOut = m.bytesOut;
  t.ejections = m.ejections;
}

/** Subscribes the event-counted series to one service; returns the unsubscribe. */
function subscribe(series: ServiceSeries, service: MetricsSource, scope: 'all' | 'control' | 'data'): () => void {
  const { pool, listener } = service;
  const onState = ({ member, to }: StateChange): void => {
    series.transitions.get(member.id, to).inc();
  };
  // Members added later (reload, discovery) are tracked as they join, so bytes they relay
  // before the next scrape are not lost if they leave again before it.
  const onChange = (): void => {
    for (const m of pool.members) series.track(m);
  };
  const onEnd = (r: SessionRecord): void => {
    const result = connectionResult(r);
    series.connections.get(r.member ?? '', result).inc();
    if (result === 'ok') series.duration.observe(r.durationMs / 1000);
    if (r.protocol === 'udp' && r.member !== undefined) {
      if (r.datagramsIn) series.datagrams.get(r.member, 'in').inc(r.datagramsIn);
      if (r.datagramsOut) series.datagrams.get(r.member, 'out').inc(r.datagramsOut);
    }
  };
  const onConnect = (c: ConnectResult): void => {
    if (c.ok) series.connectDuration.observe(c.durationMs / 1000);
    else series.connectFailures.get(c.member.id, c.error ?? 'error').inc();
  };
  const reroutes = series.reroutes.get('');
  const onReroute = (): void => reroutes.inc();
  const onDrop = (d: DropEvent): void => series.drops.get(d.reason).inc();

  if (scope !== 'data') {
    pool.on('state', onState);
    pool.on('change', onChange);
  }
  if (scope !== 'control') {
    listener.on('session-end', onEnd);
    listener.on('connect-result', onConnect);
    listener.on('reroute', onReroute);
    listener.on('drop', onDrop);
  }
  return () => {
    pool.off('state', onState);
    pool.off('change', onChange);
    listener.off('session-end', onEnd);
    listener.off('connect-result', onConnect);
    listener.off('reroute', onReroute);
    listener.off('drop', onDrop);
  };
}

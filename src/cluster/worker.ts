/**
 * A cluster worker: serves the listeners of the config the primary sends,
 * with member flags copied from the primary (no checks of its own). Reports
 * connect failures for the primary's outlier detector, its open connections
 * and bytes every second, and its metrics on request.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Switchyard } from '../balancer.js';
import type { Config } from '../config/types.js';
import type { Member, MemberFlag } from '../pool/member.js';
import type { ConnectResult } from '../proxy/types.js';
import type { Service } from '../service.js';
import { isToWorker, type FromWorker, type MemberSnapshot, type ServiceStats, type ToWorker } from './messages.js';

const STATS_INTERVAL = 1000;

function send(m: FromWorker): void {
  if (process.connected) process.send!(m);
}

/** Workers serve; the primary owns the admin API. */
function dataConfig(config: Config): Config {
  return { ...config, admin: undefined };
}

export function runWorker(logger: Logger): void {
  let lb: Switchyard | undefined;
  // Messages are handled one at a time, in order: a snapshot that follows a config applies to it.
  let queue: Promise<void> = Promise.resolve();
  const wired = new WeakSet<Service>();
  // Per member: whether the last result sent was a failure (the first success after one is sent too).
  const failing = new WeakMap<Member, boolean>();
  let stopping = false;

  const wire = (): void => {
    for (const s of lb?.services.values() ?? []) {
      if (wired.has(s)) continue;
      wired.add(s);
      const service = s.name;
      s.listener.on('connect-result', (r: ConnectResult) => {
        if (r.ok && !failing.get(r.member)) return;
        failing.set(r.member, !r.ok);
        send({ swy: 'connect', service, member: r.member.id, ok: r.ok, error: r.error, durationMs: r.durationMs });
      });
    }
  };

  const addresses = (): Record<string, AddressInfo> => {
    const out: Record<string, AddressInfo> = {};
    for (const s of lb?.services.values() ?? []) out[s.name] = s.listener.address();
    return out;
  };

  const applyConfig = async (m: Extract<ToWorker, { swy: 'config' }>): Promise<void> => {
    const { seq, config, reusePort, slot, members, holds } = m;
    logger.level = config.log.level;
    if (!lb) {
      const beforeListen = (s: Service) => {
        copyStates(s, members);
        if (holds.includes(s.name)) s.pool.holdOnBackups();
      };
      const next = new Switchyard(dataConfig(config), { logger, role: 'data', reusePort, phase: slot, beforeListen });
      try {
        await next.start();
      } catch (err) {
        send({ swy: 'applied', seq, ok: false, errors: [err instanceof Error ? err.message : String(err)] });
        logger.fatal({ err }, 'worker cannot start');
        logger.flush(() => process.exit(1));
        return;
      }
      lb = next;
    } else {
      const r = await lb.reload(dataConfig(config));
      if (!r.ok) {
        send({ swy: 'applied', seq, ok: false, errors: r.errors ?? [] });
        return;
      }
    }
    wire();
    send({ swy: 'applied', seq, ok: true, addresses: addresses() });
  };

  /** Copies the primary's flags onto this service's members. */
  const copyStates = (s: Service, members: MemberSnapshot[]): void => {
    for (const snap of members) {
      const m = snap.service === s.name ? s.pool.get(snap.id) : undefined;
      if (!m) continue;
      const cause = { source: 'control' as const, detail: snap.detail };
      const wanted = new Set<MemberFlag>(snap.flags);
      // Raise flags before lowering others, so no passing state (e.g. a brief 'up') routes a connection.
      for (const f of wanted) m.setFlag(f, true, cause);
      for (const f of [...m.flags]) if (!wanted.has(f)) m.setFlag(f, false, cause);
      m.setAgentPercent(snap.agentPercent);
    }
  };

  const applyMembers = (members: MemberSnapshot[]): void => {
    for (const s of lb?.services.values() ?? []) copyStates(s, members);
  };

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(stats);
    await Promise.all([...(lb?.services.values() ?? [])].map((s) => s.stopAccepting()));
    send({ swy: 'closed' });
    await lb?.stop();
    process.exit(0);
  };

  const handle = async (m: ToWorker): Promise<void> => {
    switch (m.swy) {
      case 'config':
        return applyConfig(m);
      case 'members':
        return applyMembers(m.members);
      case 'release-failback':
        lb?.services.get(m.service)?.pool.releaseFailbackHold();
        return;
      case 'metrics': {
        const metrics = lb ? await lb.metricsRegistry.getMetricsAsJSON() : [];
        send({ swy: 'metrics', id: m.id, metrics });
        return;
      }
      case 'stop':
        return stop();
    }
  };

  process.on('message', (m: unknown) => {
    if (!isToWorker(m)) return;
    // Metrics answer at once; the rest waits its turn.
    if (m.swy === 'metrics') {
      void handle(m).catch((err: unknown) => logger.error({ err }, 'worker metrics failed'));
      return;
    }
    queue = queue.then(() => handle(m)).catch((err: unknown) => logger.error({ err, message: m.swy }, 'worker message failed'));
  });

  send({ swy: 'hello' });

  const stats = setInterval(() => {
    if (!lb) return;
    const services: ServiceStats[] = [];
    for (const s of lb.services.values()) {
      services.push({
        name: s.name,
        active: s.listener.activeCount,
        members: s.pool.members.map((mb) => [mb.id, mb.active, mb.bytesIn, mb.bytesOut]),
      });
    }
    send({ swy: 'stats', services });
  }, STATS_INTERVAL);
  stats.unref();

  // The primary decides when to stop: a terminal's Ctrl-C reaches the whole group, and the primary drains it.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.on('SIGTERM', () => void stop());
  // The primary is gone: nobody will steer this worker, so it drains and leaves.
  process.on('disconnect', () => void stop());
}

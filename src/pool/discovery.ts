/**
 * Members from DNS (A, AAAA or SRV), as Consul or a Kubernetes headless
 * service serve them, asked again every `refresh`. A failed lookup keeps the
 * last members (as Envoy does) rather than emptying the pool. For SRV, the
 * records with the lowest priority are the primaries and the others backups,
 * and a record's weight (when not 0) is the member's weight.
 */
import { Resolver } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import type { DiscoveryConfig, MemberConfig } from '../config/types.js';
import { formatEndpoint, type Endpoint } from '../net/address.js';

export interface DiscoveryEvents {
  /** The answer changed: the members it names now. */
  members: [MemberConfig[]];
  /** A lookup failed; the members stay as they were. */
  error: [Error];
}

const MAX_WEIGHT = 1000;

export class DnsDiscovery extends EventEmitter<DiscoveryEvents> {
  readonly config: DiscoveryConfig;
  #resolver = new Resolver({ timeout: 2000, tries: 2 });
  #timer: NodeJS.Timeout | undefined;
  #last = '';
  #stopped = false;

  constructor(config: DiscoveryConfig) {
    super();
    this.config = config;
    if (config.resolver) this.#resolver.setServers([formatEndpoint(config.resolver)]);
  }

  /** Looks up once now (resolving when that answer is in), then every `refresh`. */
  async start(): Promise<void> {
    await this.#refresh();
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#resolver.cancel();
  }

  /** The members the name stands for now. */
  async lookup(): Promise<MemberConfig[]> {
    const { dns, type, port, weight } = this.config;
    if (type === 'SRV') {
      const records = await this.#resolver.resolveSrv(dns);
      const top = Math.min(...records.map((r) => r.priority));
      // A target name is resolved where the connect happens, like any member written as a name.
      return records.map((r) =>
        member({ host: r.name, port: r.port }, r.weight > 0 ? Math.min(r.weight, MAX_WEIGHT) : weight, r.priority > top),
      );
    }
    const addresses = type === 'AAAA' ? await this.#resolver.resolve6(dns) : await this.#resolver.resolve4(dns);
    return addresses.map((host) => member({ host, port: port! }, weight, false));
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#refresh().then(() => this.#schedule()), this.config.refresh);
    this.#timer.unref();
  }

  async #refresh(): Promise<void> {
    let members: MemberConfig[];
    try {
      members = await this.lookup();
    } catch (err) {
      if (!this.#stopped) this.emit('error', err as Error);
      return;
    }
    if (this.#stopped) return;
    members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const key = JSON.stringify(members.map((m) => [m.id, m.weight, m.backup]));
    if (key === this.#last) return;
    this.#last = key;
    this.emit('members', members);
  }
}

function member(address: Endpoint, weight: number, backup: boolean): MemberConfig {
  return { address, id: formatEndpoint(address), weight, backup, maxConnections: 0 };
}

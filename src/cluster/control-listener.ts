/**
 * The primary's stand-in for a service's listener when workers serve it: it
 * binds nothing; its address and open connections are what the workers
 * report, and it re-publishes the workers' connect results so the primary's
 * outlier detector sees them as it would a local listener's.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { ServiceConfig } from '../config/types.js';
import type { Member } from '../pool/member.js';
import type { EndReason, Listener, ListenerEvents } from '../proxy/types.js';

/** What the workers report, per service name: bound address and open connections per worker. */
export class WorkerView {
  readonly #addresses = new Map<string, AddressInfo>();
  readonly #active = new Map<number, Map<string, number>>();

  setAddress(service: string, address: AddressInfo): void {
    this.#addresses.set(service, address);
  }

  address(service: string): AddressInfo | undefined {
    return this.#addresses.get(service);
  }

  setActive(worker: number, service: string, active: number): void {
    let byService = this.#active.get(worker);
    if (!byService) this.#active.set(worker, (byService = new Map()));
    byService.set(service, active);
  }

  active(service: string): number {
    let n = 0;
    for (const byService of this.#active.values()) n += byService.get(service) ?? 0;
    return n;
  }

  forgetWorker(worker: number): void {
    this.#active.delete(worker);
  }
}

export class ControlListener extends EventEmitter<ListenerEvents> implements Listener {
  #config: ServiceConfig;
  readonly #view: WorkerView;

  constructor(config: ServiceConfig, view: WorkerView) {
    super();
    this.#config = config;
    this.#view = view;
  }

  listen(): Promise<void> {
    return Promise.resolve();
  }

  address(): AddressInfo {
    const a = this.#view.address(this.#config.name);
    if (!a) throw new Error(`service ${this.#config.name} is not bound by any worker yet`);
    return a;
  }

  get activeCount(): number {
    return this.#view.active(this.#config.name);
  }

  updateConfig(config: ServiceConfig): void {
    this.#config = config;
  }

  /** A worker's connect result for one of this service's members. */
  connectResult(member: Member, ok: boolean, error: string | undefined, durationMs: number): void {
    this.emit('connect-result', error === undefined ? { member, ok, durationMs } : { member, ok, error, durationMs });
  }

  /** Workers stop accepting on their own (the primary tells them). */
  stopAccepting(): Promise<void> {
    return Promise.resolve();
  }

  /** Workers own the connections; the primary has none to end. */
  closeAll(_reason: EndReason): void {}
}

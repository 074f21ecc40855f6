/**
 * What the cluster primary and its workers say to each other over the IPC
 * channel (serialization 'advanced', so a Config with RegExp and Buffer values
 * arrives whole). Every message carries a `swy` type so that others on the
 * channel (prom-client, Node's own) are told apart.
 */
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/types.js';
import type { MemberFlag } from '../pool/member.js';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** One member's health as the primary sees it; workers copy the flags as they are. */
export interface MemberSnapshot {
  service: string;
  id: string;
  flags: MemberFlag[];
  agentPercent: number;
  /** Why it changed (the primary's transition cause), for the worker's logs. */
  detail: string;
}

export type ToWorker =
  /**
   * `reusePort`: the worker binds its own listening sockets (net/reuse-port.ts); the primary probed that it can.
   * `members`: the primary's member states, which a worker that starts takes before it listens;
   * `holds`: the services whose backups hold the traffic until a release (`failback: manual`).
   */
  | { swy: 'config'; seq: number; config: Config; reusePort: boolean; slot: number; members: MemberSnapshot[]; holds: string[] }
  | { swy: 'members'; members: MemberSnapshot[] }
  | { swy: 'release-failback'; service: string }
  | { swy: 'metrics'; id: number }
  | { swy: 'stop' };

/** Per member: [id, active, bytesIn, bytesOut] (the worker's own running totals). */
export type MemberStats = [string, number, number, number];

export interface ServiceStats {
  name: string;
  active: number;
  members: MemberStats[];
}

export type FromWorker =
  /** Sent once the worker listens for messages: anything sent before is lost (an ESM worker loads asynchronously). */
  | { swy: 'hello' }
  /** The worker stopped accepting (after a stop); it drains next. */
  | { swy: 'closed' }
  | { swy: 'applied'; seq: number; ok: true; addresses: Record<string, AddressInfo> }
  | { swy: 'applied'; seq: number; ok: false; errors: string[] }
  | { swy: 'connect'; service: string; member: string; ok: boolean; error?: string; durationMs: number }
  | { swy: 'stats'; services: ServiceStats[] }
  | { swy: 'metrics'; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] };

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { swy?: unknown }).swy === 'string';
}

export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { swy?: unknown }).swy === 'string';
}

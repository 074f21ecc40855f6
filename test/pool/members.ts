/** Members built directly from a MemberConfig, for pool and balancer tests (no sockets). */
import { Member, type MemberFlag } from '../../src/pool/member.js';

export interface MemberSpec {
  weight?: number;
  backup?: boolean;
  maxConnections?: number;
  /** Starts with `pending` set, as when health checks are on. */
  checked?: boolean;
  slowStart?: number;
}

let next = 1;

/** A member with a fresh address `10.9.0.N:5432`, unless a host number is given. */
export function member(spec: MemberSpec = {}, host = next++): Member {
  const address = { host: `10.9.0.${host}`, port: 5432 };
  return new Member(
    {
      address,
      id: `${address.host}:${address.port}`,
      weight: spec.weight ?? 1,
      backup: spec.backup ?? false,
      maxConnections: spec.maxConnections ?? 0,
    },
    { checked: spec.checked ?? false, slowStart: spec.slowStart ?? 0 },
  );
}

export function members(weights: number[], spec: MemberSpec = {}): Member[] {
  return weights.map((weight) => member({ ...spec, weight }));
}

const cause = { source: 'check' as const, detail: 'test' };

export function set(m: Member, flag: MemberFlag, on = true): void {
  m.setFlag(flag, on, cause);
}

/** Drives a member to a state through its flags, as the checker and admin would. */
export function to(m: Member, state: 'up' | 'down' | 'draining' | 'disabled' | 'unknown'): void {
  for (const f of ['pending', 'failedCheck', 'adminDrain', 'adminMaint'] as const) {
    const want =
      (f === 'pending' && state === 'unknown') ||
      (f === 'failedCheck' && state === 'down') ||
      (f === 'adminDrain' && state === 'draining') ||
      (f === 'adminMaint' && state === 'disabled');
    set(m, f, want);
  }
}

/** Counts picks per member. */
export function tally<T>(picks: Iterable<T>): Map<T, number> {
  const counts = new Map<T, number>();
  for (const p of picks) counts.set(p, (counts.get(p) ?? 0) + 1);
  return counts;
}

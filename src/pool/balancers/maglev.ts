/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016, "Populate"): a
 * lookup table of M slots (M prime) that members fill in turns, each walking
 * its own permutation of the slots (offset and skip from two hashes of its
 * id) and taking the next free one. A client key hashes to a slot; the slot
 * names the member. Every instance that sees the same members builds the same
 * table (members are ordered by id, hashes are fixed), so several balancers
 * send a client to the same member; when a member leaves, mostly its own
 * clients move.
 *
 * Weighted as Envoy does it: a member of weight w takes turns w/max as often
 * as the heaviest. The weight is the configured one times the agent's
 * percentage; slow start is left out on purpose (as in Envoy), because a
 * ramping weight would remap clients on every rebuild.
 *
 * Table size: the first prime above 65,536 × 2^k that holds ≥ 100 slots per
 * member (65,537 up to 655 members, 131,101 up to 1,311, ...). 100 slots a
 * member keep slot shares within 1% of the weights, and 65,537 is Envoy's
 * default and the paper's evaluation size. The size must not follow the member
 * count closely: a table of another size is a different map, and every client
 * would move when one member leaves. So it only steps at those boundaries.
 *
 * A build walks about M·ln M slots (a few ms for M = 65,537), so the table is
 * built on the first pick rather than on every routing change: a burst of
 * changes costs one build.
 */
import type { Member } from '../member.js';
import type { BalancePolicy, PickContext, PolicyFactory, PolicyOptions } from '../types.js';
import { canTake } from './eligible.js';
import { murmur3 } from './hash.js';

const BASE_TABLE_SIZE = 65536;
const OFFSET_SEED = 0;
const SKIP_SEED = 0x9747b28c;

export const maglev: PolicyFactory = (members, opts) => new Maglev(members, opts);

export class Maglev implements BalancePolicy {
  /** Members with weight, ordered by id: the table's indices point here. */
  readonly members: readonly Member[];
  readonly #byPort: boolean;
  #table: Uint16Array | Uint32Array | undefined;

  constructor(members: readonly Member[], opts: PolicyOptions) {
    this.#byPort = opts.hashKey === 'sourceIpPort';
    this.members = members.filter((m) => m.steadyWeight() > 0).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Slot → index into `members`; built on first use. */
  get table(): Uint16Array | Uint32Array {
    return (this.#table ??= populate(this.members, tableSize(this.members.length)));
  }

  pick(ctx: PickContext): Member | undefined {
    const members = this.members;
    if (members.length === 0) return undefined;
    const key = this.#byPort ? ctx.clientIp + ':' + ctx.clientPort : ctx.clientIp;
    const table = this.table;
    const size = table.length;
    const start = murmur3(key) % size;
    const m = members[table[start]];
    if (canTake(m, ctx.exclude)) return m;
    // Retry or full: walk on to the next member that may take it.
    if (!members.some((other) => canTake(other, ctx.exclude))) return undefined;
    for (let i = start; ; ) {
      i = i + 1 === size ? 0 : i + 1;
      const next = members[table[i]];
      if (canTake(next, ctx.exclude)) return next;
    }
  }
}

/** The first prime above 65,536 × 2^k with at least 100 slots per member. */
export function tableSize(members: number): number {
  let base = BASE_TABLE_SIZE;
  while (base < 100 * members) base *= 2;
  let n = base + 1;
  while (!isPrime(n)) n++;
  return n;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/**
 * The paper's Populate, weighted: each turn goes to the member whose next turn
 * (turns taken / weight) is due soonest, ties to the lower index, kept in a
 * small binary heap, so a build costs O(M log n) plus the permutation walks.
 */
function populate(members: readonly Member[], size: number): Uint16Array | Uint32Array {
  const n = members.length;
  // Indices fit 16 bits for all but huge pools: half the memory.
  const table = n <= 0xffff ? new Uint16Array(size) : new Uint32Array(size);
  if (n <= 1) return table; // zero-filled: every slot is member 0
  const taken = new Uint8Array(size);
  const pos = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const weight = new Float64Array(n);
  const turns = new Float64Array(n);
  const due = new Float64Array(n);
  const heap = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    pos[i] = murmur3(members[i].id, OFFSET_SEED) % size;
    skip[i] = (murmur3(members[i].id, SKIP_SEED) % (size - 1)) + 1;
    weight[i] = members[i].steadyWeight();
    heap[i] = i; // every member is due at 0: index order is already a heap
  }
  const before = (a: number, b: number) => due[a] < due[b] || (due[a] === due[b] && a < b);
  for (let filled = 0; filled < size; filled++) {
    const i = heap[0];
    let c = pos[i];
    while (taken[c] === 1) c = step(c, skip[i], size);
    taken[c] = 1;
    table[c] = i;
    pos[i] = step(c, skip[i], size);
    due[i] = ++turns[i] / weight[i];
    // Sift the member down to its next turn.
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap[child + 1], heap[child])) child++;
      if (!before(heap[child], i)) break;
      heap[at] = heap[child];
      at = child;
    }
    heap[at] = i;
  }
  return table;
}

function step(c: number, skip: number, size: number): number {
  const next = c + skip;
  return next >= size ? next - size : next;
}

/**
 * A log-linear latency histogram in microseconds (HdrHistogram's layout with
 * 64 sub-buckets per power of two: under 1.6% error), small enough to merge
 * across generator processes and to ship over IPC as sparse pairs.
 */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS; // 64 sub-buckets in each half-range
const LINEAR = SUB * 2; // values below 128 µs are exact
const MAX_EXP = 32; // up to ~2^38 µs, far beyond any bench timeout
const SIZE = LINEAR + MAX_EXP * SUB;

export interface HistogramData {
  /** [bucket index, count] pairs for the non-empty buckets. */
  buckets: [number, number][];
  count: number;
  min: number;
  max: number;
  sum: number;
}

export class Histogram {
  readonly counts = new Float64Array(SIZE);
  count = 0;
  min = Infinity;
  max = 0;
  sum = 0;

  /** Records one value in microseconds. */
  record(us: number): void {
    const v = us < 0 ? 0 : Math.round(us);
    this.counts[indexOf(v)]!++;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** The value (µs) at or below which `p` percent of the recorded values fall; the exact max for p = 100. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    if (p >= 100) return this.max;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperOf(i), this.max);
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  merge(other: Histogram | HistogramData): this {
    const data = other instanceof Histogram ? other.toJSON() : other;
    for (const [i, c] of data.buckets) this.counts[i]! += c;
    this.count += data.count;
    this.sum += data.sum;
    if (data.count > 0) {
      this.min = Math.min(this.min, data.min);
      this.max = Math.max(this.max, data.max);
    }
    return this;
  }

  toJSON(): HistogramData {
    const buckets: [number, number][] = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, count: this.count, min: this.count ? this.min : 0, max: this.max, sum: this.sum };
  }

  static from(data: HistogramData): Histogram {
    return new Histogram().merge(data);
  }
}

function indexOf(v: number): number {
  if (v < LINEAR) return v;
  const msb = Math.min(Math.floor(Math.log2(v)), SUB_BITS + MAX_EXP);
  const shift = msb - SUB_BITS;
  const sub = Math.min(Math.floor(v / 2 ** shift), LINEAR - 1) - SUB;
  return Math.min(LINEAR + (msb - SUB_BITS - 1) * SUB + sub, SIZE - 1);
}

/** The highest value a bucket holds. */
function upperOf(i: number): number {
  if (i < LINEAR) return i;
  const k = i - LINEAR;
  const shift = Math.floor(k / SUB) + 1;
  const sub = (k % SUB) + SUB;
  return (sub + 1) * 2 ** shift - 1;
}

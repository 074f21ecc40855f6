/**
 * What a bench run produces: figures (one row of the table each, a value per
 * column), the individual measurement runs behind them, switchover timelines,
 * and the configurations used. Repeated runs keep every sample; the table
 * shows the median.
 */
export type Better = 'higher' | 'lower' | 'none';

export interface Figure {
  scenario: string;
  name: string;
  unit: string;
  better: Better;
  /** Show each value's ratio to the direct (no-proxy) value. */
  ratio: boolean;
  /** Column → median of its samples; null where the column has no value (and `notes` says why). */
  values: Record<string, number | null>;
  samples: Record<string, number[]>;
  notes: Record<string, string>;
}

export interface RunRecord {
  scenario: string;
  column: string;
  measurement: string;
  repeat: number;
  windowMs: number;
  generator: { processes: number; cpuCores: number; busiestProcessCores: number };
  /** The proxy's CPU in the window, in cores (its whole process tree); null for direct. */
  proxyCpuCores: number | null;
  /** The backends' CPU in the window, in cores, where measured. */
  backendCpuCores?: number | null;
  ops: number;
  errors: number;
  errorKinds: Record<string, number>;
  extra?: Record<string, unknown>;
}

export interface TimelineBin {
  /** Bin start, ms relative to the fault. */
  t: number;
  ok: number;
  stalled: number;
  failed: number;
}

export interface Marker {
  /** ms relative to the fault. */
  t: number;
  label: string;
}

export interface Timeline {
  scenario: string;
  column: string;
  binMs: number;
  bins: TimelineBin[];
  markers: Marker[];
  stallMs: number;
  file?: string;
}

export interface ScenarioReport {
  name: string;
  title: string;
  figures: Figure[];
  runs: RunRecord[];
  timelines: Timeline[];
  /** Column → generated configuration text. */
  configs: Record<string, string>;
  notes: string[];
  durationMs: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Collects a scenario's figures as samples arrive. */
export class Recorder {
  readonly report: ScenarioReport;

  constructor(name: string, title: string) {
    this.report = { name, title, figures: [], runs: [], timelines: [], configs: {}, notes: [], durationMs: 0 };
  }

  /** Declares a figure (rows keep declaration order). */
  figure(name: string, unit: string, better: Better, ratio = better !== 'none'): Figure {
    let f = this.report.figures.find((x) => x.name === name);
    if (!f) {
      f = { scenario: this.report.name, name, unit, better, ratio, values: {}, samples: {}, notes: {} };
      this.report.figures.push(f);
    }
    return f;
  }

  sample(figure: string, column: string, value: number | null): void {
    const f = this.report.figures.find((x) => x.name === figure);
    if (!f) throw new Error(`figure not declared: ${figure}`);
    if (value === null || !Number.isFinite(value)) {
      f.values[column] ??= null;
      return;
    }
    (f.samples[column] ??= []).push(value);
    f.values[column] = median(f.samples[column]!);
  }

  /** A column has no value for a figure, and why. */
  note(figure: string, column: string, why: string): void {
    const f = this.report.figures.find((x) => x.name === figure);
    if (!f) throw new Error(`figure not declared: ${figure}`);
    f.values[column] ??= null;
    f.notes[column] = why;
  }

  /** A column has no value for a figure, for a reason the scenario's notes already give. */
  absent(figure: string, column: string): void {
    const f = this.report.figures.find((x) => x.name === figure);
    if (!f) throw new Error(`figure not declared: ${figure}`);
    f.values[column] ??= null;
  }

  /** The same note on every figure of the scenario (a target that cannot run it). */
  noteAll(column: string, why: string): void {
    for (const f of this.report.figures) this.note(f.name, column, why);
  }

  run(r: Omit<RunRecord, 'scenario'>): void {
    this.report.runs.push({ scenario: this.report.name, ...r });
  }
}

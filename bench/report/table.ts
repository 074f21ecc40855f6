/**
 * The markdown report: a summary in the shape of issue 6's table, then per
 * scenario its figures (each beside the direct value, with the ratio), its
 * notes, and the CPU the generators and the proxies used.
 */
import type { Figure, ScenarioReport } from './model.js';
import { median } from './model.js';
import { formatRatio, formatValue, percent } from './format.js';
import { generatorNotes } from './sanity.js';

/** The rows of issue 6's comparison, by scenario and figure name prefix. */
const SUMMARY: [scenario: string, figurePrefix: string][] = [
  ['tcp-latency', 'keep-alive requests/s'],
  ['tcp-latency', 'keep-alive p99'],
  ['tcp-connrate', 'new connections/s'],
  ['tcp-throughput', 'bulk upload, 1 stream'],
  ['udp-rate', 'UDP queries/s'],
  ['idle-connections', 'resident memory per idle proxied connection'],
  ['switchover-kill', 'failed operations'],
  ['switchover-kill', 'detection'],
  ['switchover-kill', 'time to reroute'],
  ['switchover-hang', 'failed operations'],
  ['switchover-hang', 'detection'],
  ['switchover-hang', 'time to reroute'],
  ['failback', 'restart → first operation'],
  ['udp-switchover', 'failed operations'],
];

function cell(f: Figure, column: string, withRatio: boolean): string {
  const v = f.values[column];
  if (v === undefined) return '';
  if (v === null) return '—';
  let text = formatValue(v, f.unit);
  const base = f.values.direct;
  if (withRatio && f.ratio && column !== 'direct' && typeof base === 'number' && base > 0) text += ` (${formatRatio(v, base)})`;
  return text;
}

function row(f: Figure, columns: string[], name = f.name): string {
  return `| ${name} | ${columns.map((c) => cell(f, c, true)).join(' | ')} |`;
}

function header(columns: string[], first = 'figure'): string[] {
  return [`| ${first} | ${columns.join(' | ')} |`, `|---|${columns.map(() => '---:').join('|')}|`];
}

/** Notes per column, each said once per scenario. */
function notes(r: ScenarioReport, columns: string[]): string[] {
  const out: string[] = [];
  for (const c of columns) {
    const seen = new Map<string, string[]>();
    for (const f of r.figures) {
      const n = f.notes[c];
      if (n) seen.set(n, [...(seen.get(n) ?? []), f.name]);
    }
    for (const [text, figures] of seen) {
      const where = figures.length === r.figures.length ? '' : ` (${figures.join('; ')})`;
      out.push(`- ${c}: ${text}${where}`);
    }
  }
  return out;
}

function cpuTable(r: ScenarioReport, columns: string[]): string[] {
  const measurements = [...new Set(r.runs.map((x) => x.measurement))];
  if (measurements.length === 0) return [];
  const lines = [
    '',
    'CPU in the measured window, % of one core (gen: the load generators, the busiest process in brackets; proxy: its whole process tree, ' +
      'with its CPU time per operation (request, connection or query) where the load counts operations; backend: the members):',
    '',
    ...header(columns, 'measurement'),
  ];
  for (const m of measurements) {
    const cells = columns.map((c) => {
      const runs = r.runs.filter((x) => x.measurement === m && x.column === c);
      if (runs.length === 0) return '';
      const gen = median(runs.map((x) => x.generator.cpuCores));
      const busiest = median(runs.map((x) => x.generator.busiestProcessCores));
      const proxies = runs.map((x) => x.proxyCpuCores).filter((x): x is number => x !== null);
      // On a saturated box the rates move with the machine; CPU per operation is what one proxy costs against another.
      const perOp = runs.filter((x) => x.proxyCpuCores !== null && x.ops > 0).map((x) => (x.proxyCpuCores! * x.windowMs * 1000) / x.ops);
      const each = perOp.length ? ` (${formatValue(median(perOp), 'µs')} µs/op)` : '';
      const proxy = proxies.length ? ` · proxy ${percent(median(proxies))}${each}` : '';
      const backendRuns = runs.map((x) => x.backendCpuCores).filter((x): x is number => typeof x === 'number');
      const backend = backendRuns.length ? ` · backend ${percent(median(backendRuns))}` : '';
      return `gen ${percent(gen)} [${percent(busiest)}]${proxy}${backend}`;
    });
    lines.push(`| ${m} | ${cells.join(' | ')} |`);
  }
  return lines;
}

export function columnsOf(reports: ScenarioReport[], order: string[]): string[] {
  const seen = new Set<string>();
  for (const r of reports) for (const f of r.figures) for (const c of Object.keys(f.values)) seen.add(c);
  // A variant column (switchyard+replay) follows the column it varies.
  const ordered = order.flatMap((c) => [c, ...[...seen].filter((s) => s.startsWith(`${c}+`) && !order.includes(s))]);
  return ordered.filter((c) => seen.has(c));
}

export function summaryTable(reports: ScenarioReport[], columns: string[]): string[] {
  const rows: string[] = [];
  for (const [scenario, prefix] of SUMMARY) {
    const r = reports.find((x) => x.name === scenario);
    const f = r?.figures.find((x) => x.name.startsWith(prefix));
    if (f) rows.push(row(f, columns, /switchover|failback/.test(scenario) ? `${scenario}: ${f.name}` : f.name));
  }
  return rows.length ? [...header(columns), ...rows] : [];
}

export function markdown(reports: ScenarioReport[], columns: string[], heading: string[]): string {
  const out: string[] = [...heading, ''];
  const summary = summaryTable(reports, columns);
  if (summary.length) out.push('## Summary', '', ...summary, '');
  for (const r of reports) {
    const own = columnsOf([r], columns);
    out.push(`## ${r.name}: ${r.title}`, '', ...header(own), ...r.figures.map((f) => row(f, own)));
    const n = [...r.notes.map((x) => `- ${x}`), ...notes(r, own), ...generatorNotes(r).map((x) => `- ${x}`)];
    if (n.length) out.push('', ...n);
    out.push(...cpuTable(r, own));
    const svgs = r.timelines.filter((t) => t.file).map((t) => `[${t.column}](${t.file})`);
    if (svgs.length) out.push('', `Timelines: ${svgs.join(', ')}`);
    out.push('');
  }
  return out.join('\n');
}

/**
 * A switchover timeline as a standalone SVG: operations per 10 ms bin by their
 * scheduled start relative to the fault, stacked as successes, stalls and
 * failures, with the fault, the detection and the other instants marked.
 */
import type { Timeline } from './model.js';

const W = 960;
const H = 360;
const M = { left: 56, right: 20, top: 48, bottom: 96 };
const COLORS = { ok: '#43a047', stalled: '#fb8c00', failed: '#e53935', marker: '#37474f' };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The span worth looking at: a little before the fault to a little after the last marked instant. */
export function viewOf(t: Timeline): [number, number] {
  const first = t.bins[0]?.t ?? 0;
  const last = (t.bins[t.bins.length - 1]?.t ?? 0) + t.binMs;
  const lastMark = Math.max(0, ...t.markers.map((m) => m.t));
  return [Math.max(first, -500), Math.min(last, Math.max(1000, lastMark + 800))];
}

function tickStep(span: number): number {
  for (const s of [50, 100, 250, 500, 1000, 2000, 5000]) if (span / s <= 12) return s;
  return 10_000;
}

export function timelineSvg(t: Timeline, title: string): string {
  const [from, to] = viewOf(t);
  const bins = t.bins.filter((b) => b.t >= from && b.t < to);
  const yMax = Math.max(1, ...bins.map((b) => b.ok + b.stalled + b.failed));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (ms: number): number => M.left + ((ms - from) / (to - from)) * pw;
  const y = (n: number): number => M.top + ph - (n / yMax) * ph;
  const bw = Math.max(1, (t.binMs / (to - from)) * pw - 0.5);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${M.left}" y="36" fill="#555">operations per ${t.binMs} ms by scheduled start, relative to the fault; stalled = slower than ${t.stallMs} ms</text>`,
  );
  // Axes and grid.
  const step = tickStep(to - from);
  for (let v = Math.ceil(from / step) * step; v <= to; v += step) {
    parts.push(
      `<line x1="${x(v)}" y1="${M.top}" x2="${x(v)}" y2="${M.top + ph}" stroke="#eee"/>`,
      `<text x="${x(v)}" y="${M.top + ph + 14}" text-anchor="middle">${v} ms</text>`,
    );
  }
  for (const frac of [0, 0.5, 1]) {
    const n = Math.round(yMax * frac);
    parts.push(`<text x="${M.left - 6}" y="${y(n) + 4}" text-anchor="end">${n}</text>`, `<line x1="${M.left}" y1="${y(n)}" x2="${M.left + pw}" y2="${y(n)}" stroke="#eee"/>`);
  }
  parts.push(`<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="#999"/>`);
  // Stacked bars: ok at the bottom, then stalled, then failed.
  for (const b of bins) {
    let base = 0;
    for (const k of ['ok', 'stalled', 'failed'] as const) {
      const n = b[k];
      if (n === 0) continue;
      parts.push(`<rect x="${x(b.t).toFixed(1)}" y="${y(base + n).toFixed(1)}" width="${bw.toFixed(1)}" height="${(y(base) - y(base + n)).toFixed(1)}" fill="${COLORS[k]}"/>`);
      base += n;
    }
  }
  // Markers, labels staggered so close ones stay readable.
  t.markers
    .filter((m) => m.t >= from && m.t <= to)
    .sort((a, b) => a.t - b.t)
    .forEach((m, i) => {
      const ly = M.top + ph + 30 + (i % 3) * 14;
      parts.push(
        `<line x1="${x(m.t)}" y1="${M.top - 4}" x2="${x(m.t)}" y2="${ly - 10}" stroke="${COLORS.marker}" stroke-dasharray="4 3"/>`,
        `<text x="${x(m.t) + 3}" y="${ly}" fill="${COLORS.marker}">${esc(m.label)} (${m.t >= 0 ? '+' : ''}${Math.round(m.t)} ms)</text>`,
      );
    });
  // Legend.
  const lx = M.left;
  const ly = H - 12;
  (['ok', 'stalled', 'failed'] as const).forEach((k, i) => {
    const names = { ok: 'succeeded', stalled: 'stalled', failed: 'failed' };
    const totals = t.bins.reduce((s, b) => s + b[k], 0);
    parts.push(
      `<rect x="${lx + i * 170}" y="${ly - 9}" width="10" height="10" fill="${COLORS[k]}"/>`,
      `<text x="${lx + i * 170 + 14}" y="${ly}">${names[k]}: ${totals} in the run</text>`,
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}

/**
 * Checks a scenario's own evidence that the load generator was not the limit:
 * a generator process near one full core, or a proxy beating the direct run on
 * a higher-is-better figure, gets a note beside the table.
 */
import type { ScenarioReport } from './model.js';
import { median } from './model.js';

const BUSY = 0.9;

export function generatorNotes(r: ScenarioReport): string[] {
  const notes: string[] = [];
  const columns = [...new Set(r.runs.map((x) => x.column))];
  for (const m of [...new Set(r.runs.map((x) => x.measurement))]) {
    for (const c of columns) {
      const runs = r.runs.filter((x) => x.measurement === m && x.column === c);
      if (runs.length === 0) continue;
      const busiest = median(runs.map((x) => x.generator.busiestProcessCores));
      if (busiest >= BUSY) {
        notes.push(
          `${m} through ${c}: a load generator process used ${Math.round(busiest * 100)}% of a core; ` +
            (c === 'direct' ? 'the direct figure may be the generator’s ceiling rather than the backend’s.' : `the figure may understate ${c}.`),
        );
      }
    }
  }
  for (const f of r.figures) {
    const base = f.values.direct;
    if (f.better !== 'higher' || typeof base !== 'number') continue;
    for (const [c, v] of Object.entries(f.values)) {
      if (c !== 'direct' && typeof v === 'number' && v > base * 1.05) {
        notes.push(`${f.name}: ${c} above direct; on this machine the direct run is not a reliable ceiling for it (noise, or the backend shares cores with the generator).`);
      }
    }
  }
  return notes;
}

/**
 * A summary of V8 CPU profiles (node --cpu-prof): the functions with the most
 * self time over every process of a run, so the report says where the time went.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
}

export interface HotFunction {
  name: string;
  where: string;
  /** Share of the busy samples (all but idle), %. */
  self: number;
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else if (name.endsWith('.cpuprofile')) out.push(path);
  }
  return out;
}

/** Top `limit` functions by self time across the profiles under `dir`, as shares of the time not idle. */
export function hotFunctions(dir: string, root: string, limit = 15): HotFunction[] {
  const totals = new Map<string, HotFunction & { hits: number }>();
  let all = 0;
  for (const file of files(dir)) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const hits = new Map<number, number>();
    if (profile.samples?.length) for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
    else for (const n of profile.nodes) hits.set(n.id, n.hitCount ?? 0);
    for (const n of profile.nodes) {
      const h = hits.get(n.id) ?? 0;
      if (h === 0 || n.callFrame.functionName === '(idle)') continue;
      all += h;
      const f = n.callFrame;
      const where = f.url ? `${relative(root, f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}` : '';
      const name = f.functionName || '(anonymous)';
      const key = `${name}@${where}`;
      const t = totals.get(key) ?? { name, where, self: 0, hits: 0 };
      t.hits += h;
      totals.set(key, t);
    }
  }
  return [...totals.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, limit)
    .map((t) => ({ name: t.name, where: t.where, self: all ? (100 * t.hits) / all : 0 }));
}

/** A markdown section per profiled scenario folder. */
export function profileMarkdown(dir: string, root: string): string[] {
  const out: string[] = [];
  let folders: string[] = [];
  try {
    folders = readdirSync(dir).filter((f) => statSync(join(dir, f)).isDirectory());
  } catch {
    return out;
  }
  for (const folder of folders.sort()) {
    const hot = hotFunctions(join(dir, folder), root);
    if (hot.length === 0) continue;
    out.push(
      `### CPU profile: ${basename(folder).replace(/-[A-Za-z0-9]{6}$/, '')} (self time as % of busy time, all Switchyard processes)`,
      '',
      '| self % | function | where |',
      '|---:|---|---|',
      ...hot.map((h) => `| ${h.self.toFixed(1)} | ${h.name} | ${h.where} |`),
      '',
    );
  }
  return out;
}

/** The machine a run was measured on, for the JSON and the table's heading. */
import { cpus, totalmem, release, loadavg, hostname } from 'node:os';
import { readFileSync } from 'node:fs';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  openFileLimit: string;
  loadAverage: number[];
  host: string;
}

function openFileLimit(): string {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const f = line?.split(/\s{2,}/) ?? [];
    return f.length >= 3 ? `${f[1]} soft / ${f[2]} hard` : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function machine(): Machine {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
    openFileLimit: openFileLimit(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    host: hostname(),
  };
}

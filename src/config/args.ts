/**
 * The drop-in mode's config (`switchyard --listen ADDR --backend ADDR ...`),
 * built as a config document and validated by the same code as a file, so its
 * errors read the same, with the flag named where a file would give a line.
 */
import { Checker } from './checker.js';
import { ConfigError, type ConfigIssue } from './issues.js';
import type { Config } from './types.js';
import { validateConfig } from './validate.js';

export interface QuickArgs {
  listen: string;
  backends: string[];
  udp?: boolean;
  balance?: string;
  /** A health-check type (`tcp`, `http`, `dns`, `none`, …); default `tcp` for tcp, none for udp. */
  check?: string;
  /** Admin API listen address; off when absent. */
  admin?: string;
}

/** The service `--listen`/`--backend` make is named `default`. */
export const QUICK_SERVICE_NAME = 'default';

/** Builds and validates the config for the drop-in mode; throws ConfigError naming the flags at fault. */
export function configFromArgs(args: QuickArgs, onWarning?: (issue: ConfigIssue) => void): Config {
  const service: Record<string, unknown> = {
    name: QUICK_SERVICE_NAME,
    protocol: args.udp ? 'udp' : 'tcp',
    listen: args.listen,
    members: args.backends,
  };
  if (args.balance !== undefined) service['balance'] = args.balance;
  // A drop-in proxy with failover should notice a dead backend without being told to; UDP has no generic probe.
  const check = args.check ?? (args.udp ? undefined : 'tcp');
  if (check !== undefined) service['healthCheck'] = check;
  const doc: Record<string, unknown> = { services: [service] };
  if (args.admin !== undefined) doc['admin'] = args.admin;

  const c = new Checker({ file: '', label: flagFor });
  const config = validateConfig(c, doc);
  if (!config) throw new ConfigError(byFlag(c.errors));
  if (onWarning) for (const w of byFlag(c.warnings)) onWarning(w);
  return config;
}

const FLAG_ORDER = ['--listen', '--backend', '--udp', '--balance', '--check', '--admin'];

/** Issues in the order the usage line names the flags (stable within a flag), as a file's are in line order. */
function byFlag(issues: ConfigIssue[]): ConfigIssue[] {
  const rank = (i: ConfigIssue) => (FLAG_ORDER.indexOf(i.path) + FLAG_ORDER.length + 1) % (FLAG_ORDER.length + 1);
  return issues.map((issue, n) => ({ issue, n })).sort((a, b) => rank(a.issue) - rank(b.issue) || a.n - b.n).map((x) => x.issue);
}

/** The flag a config path came from. */
function flagFor(path: string): string {
  const m = /^services\[0\]\.?([A-Za-z]*)/.exec(path);
  if (m) {
    switch (m[1]) {
      case 'listen':
        return '--listen';
      case 'members':
        return '--backend';
      case 'balance':
        return '--balance';
      case 'healthCheck':
        return '--check';
      case 'protocol':
        return '--udp';
      default:
        return '--listen/--backend';
    }
  }
  if (path.startsWith('admin')) return '--admin';
  return path;
}

/**
 * The config's front door: YAML text or a file in, a resolved Config out, or
 * every problem at once with its file, line, column and key path.
 *
 *   const { config, errors, warnings } = parseConfig(text, 'switchyard.yaml');
 *   const config = await loadConfigFile('switchyard.yaml');   // throws ConfigError
 */
import { readFile } from 'node:fs/promises';
import { Checker } from './checker.js';
import { expandEnv } from './env.js';
import { ConfigError, ConfigIssue } from './issues.js';
import type { Config } from './types.js';
import { validateConfig } from './validate.js';
import { joinIndex, joinKey, parseYaml, type YamlDocument } from './yaml.js';

export { configFromArgs, type QuickArgs } from './args.js';
export { ConfigError, ConfigIssue } from './issues.js';

export interface ParseResult {
  /** Present only when there are no errors. */
  config?: Config;
  errors: ConfigIssue[];
  /** Accepted but probably not meant (a check timeout longer than its interval, …). */
  warnings: ConfigIssue[];
}

/** Parses and validates config text; `file` names it in messages. `${VAR}` expands from `env`. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): ParseResult {
  const parsed = parseYaml(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  if (!parsed.ok) {
    const { line, column } = parsed.position;
    return { errors: [new ConfigIssue({ file, line, column, path: '', message: parsed.message, code: 'SWY_ERR_CONFIG_YAML' })], warnings: [] };
  }
  const { doc } = parsed;
  const env$ = expandTree(doc, file, env);
  const c = new Checker({ file, locator: doc, expanded: env$.expanded, broken: env$.broken });
  const config = validateConfig(c, env$.value);
  const errors = sortIssues([...env$.errors, ...c.errors]);
  const warnings = sortIssues(c.warnings);
  return errors.length === 0 && config ? { config, errors, warnings } : { errors, warnings };
}

/** Reads, parses and validates a config file; throws ConfigError with every issue. Warnings go to `onWarning`. */
export async function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  onWarning?: (issue: ConfigIssue) => void,
): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError([new ConfigIssue({ file: path, line: 0, column: 0, path: '', message: `cannot read: ${reason}`, code: 'SWY_ERR_CONFIG_READ' })]);
  }
  const { config, errors, warnings } = parseConfig(text, path, env);
  if (!config) throw new ConfigError(errors);
  if (onWarning) for (const w of warnings) onWarning(w);
  return config;
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.map((issue, i) => ({ issue, i })).sort((a, b) => a.issue.line - b.issue.line || a.issue.column - b.issue.column || a.i - b.i).map((x) => x.issue);
}

/** Guards against alias bombs: a few aliases can name millions of nodes once copied out. */
const MAX_NODES = 100_000;

interface Expanded {
  value: unknown;
  errors: ConfigIssue[];
  expanded: Set<string>;
  broken: Set<string>;
}

/**
 * Copies the document with `${VAR}` expanded in every string value (keys stay as written).
 * Copying, rather than expanding in place, lets a value reached through two aliases
 * get its own path, and keeps a `$${` escape from being expanded twice.
 */
function expandTree(doc: YamlDocument, file: string, env: NodeJS.ProcessEnv): Expanded {
  const out: Expanded = { value: undefined, errors: [], expanded: new Set(), broken: new Set() };
  const ancestors = new Set<object>();
  let nodes = 0;
  let aborted = false;
  const fail = (path: string, message: string, code: 'SWY_ERR_CONFIG_ENV' | 'SWY_ERR_CONFIG_INVALID') => {
    const { line, column } = doc.valueAt(path);
    out.errors.push(new ConfigIssue({ file, line, column, path, message, code }));
  };
  const walk = (value: unknown, path: string): unknown => {
    if (aborted) return undefined;
    if (++nodes > MAX_NODES) {
      aborted = true;
      fail(path, `the document has more than ${MAX_NODES} values once aliases are expanded`, 'SWY_ERR_CONFIG_INVALID');
      return undefined;
    }
    if (typeof value === 'string') {
      const r = expandEnv(value, env);
      if (!r.ok) {
        out.broken.add(path);
        fail(path, r.message, r.missing.length > 0 ? 'SWY_ERR_CONFIG_ENV' : 'SWY_ERR_CONFIG_INVALID');
        return value;
      }
      if (r.expanded) out.expanded.add(path);
      return r.value;
    }
    if (typeof value !== 'object' || value === null || value instanceof Date || Buffer.isBuffer(value)) return value;
    if (ancestors.has(value)) {
      out.broken.add(path);
      fail(path, 'an alias here refers to a node that contains it', 'SWY_ERR_CONFIG_INVALID');
      return undefined;
    }
    ancestors.add(value);
    let copy: unknown;
    if (Array.isArray(value)) copy = value.map((item, i) => walk(item, joinIndex(path, i)));
    else {
      const obj: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        Object.defineProperty(obj, key, { value: walk(item, joinKey(path, key)), enumerable: true, writable: true, configurable: true });
      }
      copy = obj;
    }
    ancestors.delete(value);
    return copy;
  };
  out.value = walk(doc.value, '');
  return out;
}

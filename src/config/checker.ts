/**
 * The reading side of validation: a Checker collects issues with their
 * positions, and a Section reads one mapping's keys with typed readers. A
 * reader that meets a bad value reports it and returns undefined, so the
 * caller falls back to the default and validation goes on to find the rest.
 */
import { ConfigIssue, type IssueCode } from './issues.js';
import { MAX_DURATION_MS, formatDuration, parseDuration, parseSize, formatSize } from './duration.js';
import { suggest } from './suggest.js';
import { joinIndex, joinKey, type Position } from './yaml.js';

export interface Locator {
  valueAt(path: string): Position;
  keyAt(path: string): Position;
}

export interface CheckerOptions {
  file: string;
  locator?: Locator;
  /** Renames a key path for messages (command-line flags instead of YAML paths). */
  label?: (path: string) => string;
  /** Paths whose string came from `${VAR}` expansion: there "8080" may stand for a number. */
  expanded?: ReadonlySet<string>;
  /** Paths whose value could not be expanded; already reported, so readers skip them. */
  broken?: ReadonlySet<string>;
}

interface Report {
  at?: 'key' | 'value';
  expected?: string;
  code?: IssueCode;
}

export class Checker {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];
  readonly #opts: CheckerOptions;

  constructor(opts: CheckerOptions) {
    this.#opts = opts;
  }

  error(path: string, message: string, report: Report = {}): void {
    this.errors.push(this.#issue(path, message, report));
  }

  warn(path: string, message: string, report: Report = {}): void {
    this.warnings.push(this.#issue(path, message, report));
  }

  /** `expected X, got Y` for the value at a path. */
  expected(path: string, expected: string, got: unknown): void {
    this.error(path, `expected ${expected}, got ${describe(got)}`, { expected });
  }

  /** Names an earlier place for messages that point back at it: `services[0].listen, line 12`. */
  where(path: string): string {
    const loc = this.#opts.locator;
    return loc ? `${this.label(path)}, line ${loc.valueAt(path).line}` : this.label(path);
  }

  label(path: string): string {
    return this.#opts.label ? this.#opts.label(path) : path;
  }

  isExpanded(path: string): boolean {
    return this.#opts.expanded?.has(path) ?? false;
  }

  isBroken(path: string): boolean {
    return this.#opts.broken?.has(path) ?? false;
  }

  #issue(path: string, message: string, report: Report): ConfigIssue {
    const loc = this.#opts.locator;
    const pos = loc ? (report.at === 'key' ? loc.keyAt(path) : loc.valueAt(path)) : { line: 0, column: 0 };
    return new ConfigIssue({
      file: this.#opts.file,
      line: pos.line,
      column: pos.column,
      path: this.label(path),
      message,
      ...(report.expected !== undefined ? { expected: report.expected } : {}),
      ...(report.code !== undefined ? { code: report.code } : {}),
    });
  }
}

/** How a value reads in a message: strings quoted, collections by their kind. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  if (Buffer.isBuffer(value)) return 'binary data';
  return 'a mapping';
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date) && !Buffer.isBuffer(value);
}

export interface NumberRange {
  min?: number;
  max?: number;
}

/** One YAML mapping being read: typed readers for its keys, and a check for keys nobody read. */
export class Section {
  readonly c: Checker;
  readonly path: string;
  readonly obj: Record<string, unknown>;
  readonly #known: readonly string[];
  readonly #handled = new Set<string>();
  readonly #refused = new Set<string>();

  constructor(c: Checker, path: string, obj: Record<string, unknown>, known: readonly string[]) {
    this.c = c;
    this.path = path;
    this.obj = obj;
    this.#known = known;
  }

  at(key: string): string {
    return joinKey(this.path, key);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.obj, key);
  }

  /** Present and neither refused nor broken: a value the readers will judge. */
  given(key: string): boolean {
    return this.has(key) && !this.#refused.has(key) && !this.c.isBroken(this.at(key));
  }

  /** The raw value, marking the key as handled; undefined when absent or already reported as broken. */
  raw(key: string): unknown {
    this.#handled.add(key);
    if (!this.has(key) || this.#refused.has(key) || this.c.isBroken(this.at(key))) return undefined;
    return this.obj[key];
  }

  /** Reports each present key of `keys` as not applying here (`applies only to udp services`). */
  refuse(keys: readonly string[], why: string, severity: 'error' | 'warn' = 'error'): void {
    for (const key of keys) {
      if (!this.has(key)) continue;
      this.#handled.add(key);
      this.#refused.add(key);
      if (severity === 'error') this.c.error(this.at(key), `\`${key}\` ${why}`, { at: 'key' });
      else this.c.warn(this.at(key), `\`${key}\` ${why}`, { at: 'key' });
    }
  }

  /** Reports every key neither read nor refused, with the nearest known key as a suggestion. */
  finish(): void {
    for (const key of Object.keys(this.obj)) {
      if (this.#handled.has(key)) continue;
      const near = suggest(key, this.#known);
      const hint = near !== undefined ? `; did you mean \`${near}\`?` : `; expected one of: ${this.#known.join(', ')}`;
      this.c.error(this.at(key), `unknown key \`${key}\`${hint}`, { at: 'key' });
    }
  }

  string(key: string, opts: { nonEmpty?: boolean } = {}): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      const hint = typeof v === 'number' || typeof v === 'boolean' ? ' (quote it to keep it as written)' : '';
      this.c.error(this.at(key), `expected a string, got ${describe(v)}${hint}`, { expected: 'a string' });
      return undefined;
    }
    if (opts.nonEmpty && v.trim() === '') {
      this.c.error(this.at(key), 'must not be empty', { expected: 'a non-empty string' });
      return undefined;
    }
    return v;
  }

  bool(key: string): boolean | undefined {
    let v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === 'string' && this.c.isExpanded(this.at(key)) && (v === 'true' || v === 'false')) v = v === 'true';
    if (typeof v !== 'boolean') {
      this.c.expected(this.at(key), 'true or false', v);
      return undefined;
    }
    return v;
  }

  int(key: string, range: NumberRange = {}): number | undefined {
    return readInt(this.c, this.at(key), this.raw(key), range);
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    const near = typeof v === 'string' ? suggest(v, values) : undefined;
    const expected = values.join(' | ');
    const hint = near !== undefined ? `; did you mean \`${near}\`?` : '';
    this.c.error(this.at(key), `expected ${expected}, got ${describe(v)}${hint}`, { expected });
    return undefined;
  }

  /** A duration in ms; `positive` refuses 0. */
  duration(key: string, opts: { positive?: boolean } = {}): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const expected = opts.positive ? 'a duration like "250ms" or "2s"' : 'a duration like "250ms" or "2s" (0 = off)';
    const ms = parseDuration(v);
    if (ms === undefined) {
      const hint = typeof v === 'number' ? `; write the unit, e.g. "${v}s" or "${v}ms"` : '';
      this.c.error(this.at(key), `expected ${expected}, got ${describe(v)}${hint}`, { expected });
      return undefined;
    }
    if (ms > MAX_DURATION_MS) {
      this.c.error(this.at(key), `${describe(v)} is too long; at most ${formatDuration(MAX_DURATION_MS)}`, { expected });
      return undefined;
    }
    if (opts.positive && ms === 0) {
      this.c.error(this.at(key), 'must be longer than 0', { expected });
      return undefined;
    }
    return ms;
  }

  /** A size in bytes, within a range. */
  size(key: string, range: { min: number; max: number }): number | undefined {
    let v = this.raw(key);
    if (v === undefined) return undefined;
    const expected = `a size like "64KiB" or "1MiB" (${formatSize(range.min)} to ${formatSize(range.max)})`;
    const bytes = parseSize(v);
    if (bytes === undefined || bytes < range.min || bytes > range.max) {
      if (typeof v === 'string' && /^\d+(\.\d+)?\s*[kmg]b?$/i.test(v.trim())) v = `${v} (write KiB, MiB or GiB)`;
      this.c.expected(this.at(key), expected, v);
      return undefined;
    }
    return bytes;
  }

  /** A nested mapping (null/empty counts as an empty one), or undefined when absent or not a mapping. */
  mapping(key: string): Record<string, unknown> | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (v === null) return {};
    if (!isMapping(v)) {
      this.c.expected(this.at(key), 'a mapping of keys', v);
      return undefined;
    }
    return v;
  }

  /**
   * A list; a single scalar counts as a list of one when `single` allows it.
   * Items whose `${VAR}` could not be expanded (already reported) read as undefined: skip them.
   */
  list(key: string, opts: { single?: boolean } = {}): { items: unknown[]; path: (i: number) => string } | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const base = this.at(key);
    if (Array.isArray(v)) {
      const path = (i: number) => joinIndex(base, i);
      return { items: v.map((item, i) => (this.c.isBroken(path(i)) ? undefined : item)), path };
    }
    if (v === null) return { items: [], path: (i) => joinIndex(base, i) };
    if (opts.single && !isMapping(v)) return { items: [v], path: () => base };
    this.c.expected(base, 'a list', v);
    return undefined;
  }
}

/** An integer within a range; strings of digits count when they came from `${VAR}`. */
export function readInt(c: Checker, path: string, raw: unknown, range: NumberRange): number | undefined {
  let v = raw;
  if (v === undefined) return undefined;
  if (typeof v === 'string' && c.isExpanded(path) && /^-?\d+$/.test(v.trim())) v = Number(v);
  const expected = rangeText(range);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || (range.min !== undefined && v < range.min) || (range.max !== undefined && v > range.max)) {
    c.expected(path, expected, v);
    return undefined;
  }
  return v;
}

function rangeText({ min, max }: NumberRange): string {
  if (min !== undefined && max !== undefined) return `an integer from ${min} to ${max}`;
  if (min !== undefined) return min === 0 ? 'an integer of 0 or more' : `an integer of ${min} or more`;
  if (max !== undefined) return `an integer up to ${max}`;
  return 'an integer';
}

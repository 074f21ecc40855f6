/** Builders for config tests: a one-service document, its issues, and where a snippet sits in it. */
import { parseConfig, type ConfigIssue } from '../../src/config/load.js';
import type { Config, ServiceConfig } from '../../src/config/types.js';

/**
 * A document with one service made of `body` (YAML lines at service level, unindented);
 * `name`, `listen` and `members` are added when the body does not give them (or `discovery`).
 */
export function oneService(body: string, top = ''): string {
  const lines = body.split('\n').filter((l) => l.trim() !== '');
  const has = (key: string) => lines.some((l) => l.startsWith(`${key}:`));
  const all = [
    ...(has('name') ? [] : ['name: svc']),
    ...(has('listen') ? [] : ['listen: 127.0.0.1:7000']),
    ...(has('members') || has('discovery') ? [] : ['members: [127.0.0.1:7001]']),
    ...lines,
  ];
  return `${top}services:\n${all.map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`)).join('\n')}\n`;
}

export function parse(text: string, env: NodeJS.ProcessEnv = {}) {
  return parseConfig(text, 't.yaml', env);
}

export function service(body: string, env: NodeJS.ProcessEnv = {}): ServiceConfig {
  return config(oneService(body), env).services[0]!;
}

export function config(text: string, env: NodeJS.ProcessEnv = {}): Config {
  const r = parse(text, env);
  if (!r.config) throw new Error(`expected a valid config:\n${r.errors.map(String).join('\n')}\n---\n${text}`);
  return r.config;
}

/** Line and column (1-based) of the first occurrence of `snippet`, or of the `»` inside it (`retries: »-1`). */
export function position(text: string, snippet: string): { line: number; column: number } {
  const mark = Math.max(0, snippet.indexOf('»'));
  const found = text.indexOf(snippet.replace('»', ''));
  if (found < 0) throw new Error(`${JSON.stringify(snippet)} is not in:\n${text}`);
  const idx = found + mark;
  const before = text.slice(0, idx);
  return { line: before.split('\n').length, column: idx - before.lastIndexOf('\n') };
}

export interface ExpectedIssue {
  path: string;
  /** Text in the document where the issue must point (line and column): its start, or the `»` in it. */
  at: string;
  message: RegExp;
}

/** The issue list as `LINE:COL PATH: MESSAGE`, for readable failures. */
export function show(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`).join('\n');
}

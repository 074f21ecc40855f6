/**
 * A problem found in a config, and the error that carries all of them.
 * Every issue names the file, line and column, the key path, and what was expected,
 * so one run of `switchyard check` shows everything to fix.
 */
import { SwitchyardError, type ErrorCode } from '../errors.js';

export type IssueCode = 'SWY_ERR_CONFIG_INVALID' | 'SWY_ERR_CONFIG_ENV' | 'SWY_ERR_CONFIG_YAML' | 'SWY_ERR_CONFIG_READ';

export interface ConfigIssueInit {
  file: string;
  /** 1-based; 0 when the problem has no place in a file (command-line arguments, an unreadable file). */
  line: number;
  column: number;
  /** Key path, e.g. `services[0].healthCheck.interval`; '' for the whole document. */
  path: string;
  message: string;
  /** What would have been accepted, e.g. `a duration like "250ms" or "2s"`. */
  expected?: string;
  code?: IssueCode;
}

export class ConfigIssue implements ConfigIssueInit {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly path: string;
  readonly message: string;
  readonly expected?: string;
  readonly code: IssueCode;

  constructor(init: ConfigIssueInit) {
    this.file = init.file;
    this.line = init.line;
    this.column = init.column;
    this.path = init.path;
    this.message = init.message;
    if (init.expected !== undefined) this.expected = init.expected;
    this.code = init.code ?? 'SWY_ERR_CONFIG_INVALID';
  }

  /** `FILE:LINE:COL PATH: MESSAGE`, the form compilers and editors link to. */
  toString(): string {
    const where = this.line > 0 ? `${this.file}:${this.line}:${this.column}` : this.file;
    const subject = [where, this.path].filter((part) => part !== '').join(' ');
    return subject === '' ? this.message : `${subject}: ${this.message}`;
  }
}

/** Thrown by loadConfigFile and configFromArgs; `issues` holds every problem found, `message` lists them. */
export class ConfigError extends SwitchyardError {
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    const code = errorCode(issues);
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super(code, `${leadFor(code)} (${count}):\n${issues.map((i) => `  ${i}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** The error's code: the first unreadable/YAML problem, else ENV when only variables are missing, else INVALID. */
function errorCode(issues: readonly ConfigIssue[]): ErrorCode {
  for (const c of ['SWY_ERR_CONFIG_READ', 'SWY_ERR_CONFIG_YAML'] as const) if (issues.some((i) => i.code === c)) return c;
  if (issues.length > 0 && issues.every((i) => i.code === 'SWY_ERR_CONFIG_ENV')) return 'SWY_ERR_CONFIG_ENV';
  return 'SWY_ERR_CONFIG_INVALID';
}

function leadFor(code: ErrorCode): string {
  switch (code) {
    case 'SWY_ERR_CONFIG_READ':
      return 'cannot read the config';
    case 'SWY_ERR_CONFIG_YAML':
      return 'the config is not valid YAML';
    case 'SWY_ERR_CONFIG_ENV':
      return 'the config names environment variables that are not set';
    default:
      return 'the config is invalid';
  }
}

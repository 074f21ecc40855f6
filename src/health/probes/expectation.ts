/**
 * Matching a reply against what a check expects (HAProxy `expect string`,
 * `rstring`, `binary`): a substring, a regular expression, or exact bytes,
 * each found anywhere in the bytes received so far.
 */
import type { Expectation } from '../../config/types.js';
import { printable } from './exchange.js';

/** A test over received bytes, built once per check so the needle is encoded once. */
export function matcher(exp: Expectation): (received: Buffer) => boolean {
  switch (exp.kind) {
    case 'string': {
      const needle = Buffer.from(exp.value, 'utf8');
      return (b) => b.indexOf(needle) !== -1;
    }
    case 'hex': {
      const needle = exp.value;
      return (b) => b.indexOf(needle) !== -1;
    }
    case 'regex': {
      // A global or sticky regex keeps lastIndex between calls; test a copy without those flags.
      const re = new RegExp(exp.value.source, exp.value.flags.replace(/[gy]/g, ''));
      return (b) => re.test(b.toString('utf8'));
    }
  }
}

/** The expectation as a detail shows it: "+PONG", /^\+OK/, hex 0a0b. */
export function describeExpectation(exp: Expectation): string {
  switch (exp.kind) {
    case 'string':
      return printable(Buffer.from(exp.value, 'utf8'));
    case 'regex':
      return String(exp.value);
    case 'hex':
      return `hex ${exp.value.subarray(0, 32).toString('hex')}${exp.value.length > 32 ? '…' : ''}`;
  }
}

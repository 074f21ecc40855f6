/**
 * The send-expect check (HAProxy `tcp-check send` / `expect`): steps in order;
 * a step's `send` is written, and its `expect` waits until the bytes received
 * since that step's send contain the expected string, bytes or regex match.
 * A step without `send` keeps looking at the bytes since the last send.
 */
import { ExchangeError, ms, openExchange, printable, type Exchange } from './exchange.js';
import { describeExpectation, matcher } from './expectation.js';
import type { Probe } from './types.js';

export const probe: Probe = async (target, check, signal) => {
  let ex: Exchange;
  try {
    ex = await openExchange(target, signal);
  } catch (err) {
    return { ok: false, detail: err instanceof ExchangeError ? err.message : String(err) };
  }
  const steps = check.steps;
  let step = 0;
  try {
    let last: Buffer | undefined;
    for (; step < steps.length; step++) {
      const { send, expect } = steps[step]!;
      if (send) {
        ex.discard();
        ex.write(send);
      }
      if (expect) {
        await ex.until(matcher(expect));
        last = ex.received;
      }
    }
    if (last === undefined) return { ok: true, detail: `connected in ${ms(ex.connectMs)}` };
    return { ok: true, detail: `got ${printable(last, 32)}` };
  } catch (err) {
    if (!(err instanceof ExchangeError)) return { ok: false, detail: String(err) };
    const where = steps.length > 1 ? ` at step ${step + 1} of ${steps.length}` : '';
    const expect = steps[step]?.expect;
    const wanted = expect ? `: expected ${describeExpectation(expect)}` : '';
    const got = ex.received.length > 0 ? `got ${printable(ex.received)}` : 'got nothing';
    return { ok: false, detail: `${err.message}${where}${wanted}, ${got}` };
  } finally {
    ex.close();
  }
};

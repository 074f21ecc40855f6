/**
 * The UDP send-expect check: steps in order; a step's `send` goes out as one
 * datagram, and its `expect` is matched against the next datagram the member
 * sends back (a string or bytes it contains, or a regex). A reply that does
 * not match fails at once: over UDP, one datagram is the whole answer.
 */
import { DatagramExchange } from './datagram.js';
import { printable } from './exchange.js';
import { describeExpectation, matcher } from './expectation.js';
import { settle } from './settle.js';
import type { Probe } from './types.js';

export const probe: Probe = (target, check, signal) =>
  settle(async () => {
    const steps = check.steps;
    // Without a reply to judge, a UDP check could only report that a datagram left.
    if (!steps.some((s) => s.expect !== undefined)) return { ok: false, detail: 'udp-send-expect needs an expect' };
    const dx = await DatagramExchange.open(target, signal);
    try {
      let last: Buffer | undefined;
      for (const [i, { send, expect }] of steps.entries()) {
        if (send !== undefined) dx.send(send);
        if (expect === undefined) continue;
        const where = steps.length > 1 ? ` at step ${i + 1} of ${steps.length}` : '';
        last = await dx.receive(`a reply${where}`);
        if (!matcher(expect)(last)) {
          return { ok: false, detail: `expected ${describeExpectation(expect)}${where}, got ${printable(last)}` };
        }
      }
      return { ok: true, detail: `got ${printable(last!, 32)}` };
    } finally {
      dx.close();
    }
  });

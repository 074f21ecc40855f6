/** The TCP check: the member accepts a connection (Envoy's TCP checker without payload, HAProxy's plain `check`). */
import { ExchangeError, ms, openExchange } from './exchange.js';
import type { Probe } from './types.js';

export const probe: Probe = async (target, _check, signal) => {
  try {
    const ex = await openExchange(target, signal);
    ex.close();
    return { ok: true, detail: `connected in ${ms(ex.connectMs)}` };
  } catch (err) {
    return { ok: false, detail: err instanceof ExchangeError ? err.message : String(err) };
  }
};

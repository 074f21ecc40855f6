import type { ProbeResult } from './types.js';

/**
 * Runs one probe exchange and turns anything it throws into a failed result,
 * because a probe resolves and never rejects. Exchanges throw `Error`s whose
 * message is the detail to show ("connection refused", "ERR 1045 (28000): ...").
 */
export async function settle(exchange: () => Promise<ProbeResult>): Promise<ProbeResult> {
  try {
    return await exchange();
  } catch (err) {
    // A Buffer read past the end: the member sent a message shorter than its protocol allows.
    if (err instanceof RangeError) return { ok: false, detail: `malformed reply (${err.message})` };
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The agent check (HAProxy `agent-check`): connect to the agent's port,
 * optionally send `agentSend`, read one line (up to a newline or the agent
 * closing), and act on its words, separated by spaces, tabs or commas:
 *
 *   75%                 weight, relative to the configured one (0% stops new traffic, as drain)
 *   ready               leave drain and maintenance
 *   drain | maint       enter drain (no new connections) or maintenance (disabled)
 *   up                  operational state up
 *   down|fail|stopped   operational state down; text after `#` is a reason, shown in the detail
 *   maxconn:N           understood and ignored (no per-member agent limit here)
 *
 * As in HAProxy, what the agent does not mention is left as it was, and among
 * words of one kind the last wins. Since here the agent is the member's only
 * check, an agent that cannot be reached, or that says nothing we understand,
 * fails the check; a reply without down/fail/stopped passes it.
 */
import { ExchangeError, openExchange, printable, type Exchange } from './exchange.js';
import type { Probe, ProbeResult } from './types.js';

/** HAProxy reads the agent's reply into one buffer; a line longer than this is not an agent reply. */
const MAX_LINE = 1024;

export const probe: Probe = async (target, check, signal) => {
  let ex: Exchange;
  try {
    ex = await openExchange(target, signal);
  } catch (err) {
    return { ok: false, detail: err instanceof ExchangeError ? err.message : String(err) };
  }
  try {
    if (check.agentSend) ex.write(check.agentSend);
    await ex.until((b) => b.indexOf(0x0a) !== -1, { orEnd: true, maxBytes: MAX_LINE });
    const nl = ex.received.indexOf(0x0a);
    const line = ex.received.subarray(0, nl === -1 ? ex.received.length : nl).toString('latin1');
    return parseAgentReply(line);
  } catch (err) {
    if (!(err instanceof ExchangeError)) return { ok: false, detail: String(err) };
    const got = ex.received.length > 0 ? `got ${printable(ex.received)}` : 'got nothing';
    return { ok: false, detail: `${err.message} waiting for the agent's reply, ${got}` };
  } finally {
    ex.close();
  }
};

/** Reads one agent line into a check result. */
export function parseAgentReply(raw: string): ProbeResult {
  const line = raw.replace(/\r$/, '');
  const hash = line.indexOf('#');
  const words = (hash === -1 ? line : line.slice(0, hash)).split(/[\s,]+/).filter((w) => w !== '');
  let health: 'up' | 'down' | undefined;
  let admin: 'ready' | 'drain' | 'maint' | undefined;
  let percent: number | undefined;
  let understood = false;
  for (const word of words) {
    const w = word.toLowerCase();
    const pct = /^(\d{1,9})%$/.exec(w);
    if (pct) {
      percent = Number(pct[1]);
      understood = true;
    } else if (w === 'ready' || w === 'drain' || w === 'maint') {
      admin = w;
      understood = true;
    } else if (w === 'up') {
      health = 'up';
      understood = true;
    } else if (w === 'down' || w === 'fail' || w === 'stopped') {
      health = 'down';
      understood = true;
    } else if (/^maxconn:\d+$/.test(w)) {
      understood = true;
    }
  }
  const said = `agent says ${printable(Buffer.from(line, 'latin1'))}`;
  if (!understood) {
    return { ok: false, detail: line.trim() === '' ? 'agent sent an empty reply' : `${said}, which is not an agent reply` };
  }
  const result: ProbeResult = { ok: health !== 'down', detail: said };
  if (percent !== undefined) result.weightPercent = percent;
  if (admin === 'ready') {
    result.drain = false;
    result.maint = false;
  } else if (admin === 'drain') {
    result.drain = true;
    result.maint = false;
  } else if (admin === 'maint') {
    result.maint = true;
    result.drain = false;
  }
  return result;
}

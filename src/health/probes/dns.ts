/**
 * The DNS check (UDP): one query for `query`/`queryType` with recursion
 * desired; it passes on a reply with our id, NOERROR and at least one answer
 * (or the truncation bit, which says the answer exists but needs TCP).
 * NXDOMAIN, SERVFAIL, REFUSED or an empty answer fail, as does a port
 * unreachable. Replies with another id are ignored, as a resolver does.
 */
import { randomInt } from 'node:crypto';
import { DatagramExchange } from './datagram.js';
import { encodeQuery, parseReply } from './dns-message.js';
import { settle } from './settle.js';
import type { Probe } from './types.js';

export const probe: Probe = (target, check, signal) =>
  settle(async () => {
    const id = randomInt(0x10000);
    const query = encodeQuery(id, check.query, check.queryType);
    const dx = await DatagramExchange.open(target, signal);
    try {
      dx.send(query);
      for (;;) {
        const msg = await dx.receive('DNS reply');
        const reply = parseReply(msg, check.queryType);
        if (reply === undefined || !reply.isResponse) return { ok: false, detail: `not a DNS reply (${msg.length} bytes)` };
        if (reply.id !== id) continue;
        if (reply.rcode !== 'NOERROR') return { ok: false, detail: `${reply.rcode} for ${check.query} ${check.queryType}` };
        if (reply.answers === 0) {
          return reply.truncated
            ? { ok: true, detail: 'NOERROR, truncated' }
            : { ok: false, detail: `NOERROR, no answer for ${check.query} ${check.queryType}` };
        }
        const plural = reply.answers === 1 ? 'answer' : 'answers';
        const first = reply.firstAnswer === undefined ? '' : `: ${reply.firstAnswer}`;
        return { ok: true, detail: `NOERROR, ${reply.answers} ${plural}${first}` };
      }
    } finally {
      dx.close();
    }
  });

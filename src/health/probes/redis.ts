/**
 * The Redis check: AUTH when a password is set, PING → +PONG, and with `role`
 * the `role:` line of INFO replication (HAProxy's `redis-check`, plus the
 * role test people add with tcp-check). The commands go out in one write
 * (RESP pipelining), so a check costs one round trip; QUIT ends it.
 */
import { readExact, readLine, goodbye } from './dialogue.js';
import { openExchange, printable, type Exchange } from './exchange.js';
import { settle } from './settle.js';
import type { Probe } from './types.js';

/** Redis reports a replica as "slave" in INFO; the config may say either word. */
const roleInInfo: Record<string, string> = { master: 'master', primary: 'master', replica: 'slave', slave: 'slave' };

export const probe: Probe = (target, check, signal) =>
  settle(async () => {
    const wantedRole = check.role === undefined ? undefined : roleInInfo[check.role];
    if (check.role !== undefined && wantedRole === undefined) {
      return { ok: false, detail: `unknown redis role "${check.role}" (master or replica)` };
    }
    const commands: string[][] = [];
    if (check.password !== undefined) {
      commands.push(check.user === undefined ? ['AUTH', check.password] : ['AUTH', check.user, check.password]);
    }
    commands.push(['PING']);
    if (wantedRole !== undefined) commands.push(['INFO', 'replication']);

    const ex = await openExchange(target, signal);
    try {
      ex.write(Buffer.concat(commands.map(encodeCommand)));
      if (check.password !== undefined) {
        const auth = await readReply(ex, 'AUTH reply');
        if (auth !== '+OK') return { ok: false, detail: `AUTH refused: ${auth}` };
      }
      // -NOAUTH, -LOADING, -MASTERDOWN and the like fail the check and say why.
      const pong = await readReply(ex, 'PING reply');
      if (pong !== '+PONG') return { ok: false, detail: pong };
      if (wantedRole === undefined) return { ok: true, detail: pong };

      const info = await readReply(ex, 'INFO reply');
      const role = /^role:(\w+)/m.exec(info)?.[1];
      if (role === undefined) return { ok: false, detail: `${pong}, no role in INFO replication` };
      const link = role === 'slave' ? /^master_link_status:(\w+)/m.exec(info)?.[1] : undefined;
      const seen = `${pong} role:${role}${link === undefined ? '' : ` link:${link}`}`;
      return role === wantedRole ? { ok: true, detail: seen } : { ok: false, detail: `${seen}, want role:${wantedRole}` };
    } finally {
      goodbye(ex, QUIT);
    }
  });

function encodeCommand(args: string[]): Buffer {
  let text = `*${args.length}\r\n`;
  for (const arg of args) text += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return Buffer.from(text);
}

const QUIT = encodeCommand(['QUIT']);

/** One RESP reply as text: simple strings, errors and integers keep their type mark; a bulk string is its content. */
async function readReply(ex: Exchange, what: string): Promise<string> {
  const line = await readLine(ex, what);
  const mark = String.fromCharCode(line[0] ?? 0);
  if (mark === '+' || mark === '-' || mark === ':') return line.toString('utf8');
  if (mark === '$') {
    const length = Number(line.subarray(1).toString('latin1'));
    if (length === -1) return '(nil)';
    if (!Number.isInteger(length) || length < 0) throw new Error(`bad bulk length in ${what}: ${printable(line)}`);
    const bulk = await readExact(ex, length + 2, what);
    return bulk.subarray(0, length).toString('utf8');
  }
  throw new Error(`not a Redis reply (${what}): ${printable(line)}`);
}

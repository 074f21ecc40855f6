/**
 * The MySQL/MariaDB check, over the classic protocol without TLS.
 *
 * Without a user it reads the server greeting (handshake v10), as HAProxy's
 * `mysql-check` does without `user`: a greeting passes with the server version
 * as detail; an ERR packet instead ("Host is not allowed to connect", "Too
 * many connections") fails. Note that the server counts such a connection as
 * aborted; set a user to log in and leave with COM_QUIT instead.
 *
 * With a user it logs in (mysql_native_password, or caching_sha2_password with
 * fast authentication or, over plain TCP, the server's RSA key), and with
 * `role` asks `SELECT @@read_only`: 0 is a primary, 1 a replica.
 */
import { goodbye, readFrame } from './dialogue.js';
import { openExchange, printable, type Exchange } from './exchange.js';
import { CACHING_SHA2_PASSWORD, NATIVE_PASSWORD, rsaEncryptPassword, scramble, speaksPlugin } from './mysql-auth.js';
import { settle } from './settle.js';
import type { Probe } from './types.js';

const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_CONNECT_WITH_DB = 0x8;
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_TRANSACTIONS = 0x2000;
const CLIENT_SECURE_CONNECTION = 0x8000;
const CLIENT_PLUGIN_AUTH = 0x80000;

const MAX_PACKET = 64 * 1024;
const UTF8_GENERAL_CI = 33;
const COM_QUIT = packet(0, Buffer.from([0x01]));
const READ_ONLY_QUERY = packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from('SELECT @@read_only')]));

/** `role` words: the @@read_only value the member should report. */
const wantedReadOnly: Record<string, string> = { primary: '0', master: '0', replica: '1', slave: '1' };

interface Packet {
  seq: number;
  payload: Buffer;
}

interface Greeting {
  seq: number;
  version: string;
  capabilities: number;
  seed: Buffer;
  plugin: string;
}

export const probe: Probe = (target, check, signal) =>
  settle(async () => {
    const readOnly = check.role === undefined ? undefined : wantedReadOnly[check.role];
    if (check.role !== undefined && readOnly === undefined) {
      return { ok: false, detail: `unknown mysql role "${check.role}" (primary or replica)` };
    }
    if (check.role !== undefined && check.user === undefined) {
      return { ok: false, detail: 'a mysql role check logs in: set healthCheck.user' };
    }
    const ex = await openExchange(target, signal);
    let inSession = false;
    try {
      const greeting = parseGreeting(await readPacket(ex, 'greeting'));
      const server = serverName(greeting.version);
      if (check.user === undefined) return { ok: true, detail: server };

      await logIn(ex, greeting, check.user, check.password ?? '', check.database);
      inSession = true;
      if (readOnly === undefined) return { ok: true, detail: `logged in, ${server}` };

      ex.write(READ_ONLY_QUERY);
      const value = await firstValue(ex, '@@read_only');
      const seen = `logged in, ${server}, read_only=${value} (${value === '0' ? 'primary' : 'replica'})`;
      return value === readOnly ? { ok: true, detail: seen } : { ok: false, detail: `${seen}, want ${check.role}` };
    } finally {
      if (inSession) goodbye(ex, COM_QUIT);
      else ex.close();
    }
  });

function parseGreeting(p: Packet): Greeting {
  const b = p.payload;
  if (b[0] === 0xff) throw new Error(serverError(b));
  if (b[0] !== 10) throw new Error(`not a MySQL greeting: ${printable(b)}`);
  const versionEnd = b.indexOf(0, 1);
  if (versionEnd < 0) throw new Error(`malformed MySQL greeting: ${printable(b)}`);
  const version = b.subarray(1, versionEnd).toString('utf8');
  // Connection id, first seed part, filler, capability flags: what every v10 greeting has.
  if (b.length < versionEnd + 1 + 4 + 8 + 1 + 2) throw new Error(`malformed MySQL greeting: ${printable(b)}`);
  let at = versionEnd + 1 + 4; // connection id
  const seed1 = b.subarray(at, at + 8);
  at += 8 + 1; // filler
  let capabilities = b.readUInt16LE(at);
  at += 2;
  let seed = seed1;
  let plugin = NATIVE_PASSWORD;
  if (b.length >= at + 1 + 2 + 2 + 1 + 10) {
    at += 1 + 2; // character set, status flags
    capabilities |= b.readUInt16LE(at) << 16;
    at += 2;
    const seedLength = b[at]!;
    at += 1 + 10; // reserved (MariaDB's extended capabilities live there; we need none)
    if (capabilities & CLIENT_SECURE_CONNECTION) {
      const seed2Length = Math.max(13, seedLength - 8);
      // The second part ends with a NUL that is not part of the 20-byte seed.
      seed = Buffer.concat([seed1, b.subarray(at, at + seed2Length - 1)]);
      at += seed2Length;
    }
    if (capabilities & CLIENT_PLUGIN_AUTH) {
      const end = b.indexOf(0, at);
      plugin = b.subarray(at, end < 0 ? b.length : end).toString('latin1');
    }
  }
  return { seq: p.seq, version, capabilities: capabilities >>> 0, seed, plugin };
}

/** MariaDB prefixes its version with "5.5.5-" for old clients. */
function serverName(version: string): string {
  return version.replace(/^5\.5\.5-(?=\d+\.\d+\.\d+-MariaDB)/, '');
}

async function logIn(ex: Exchange, greeting: Greeting, user: string, password: string, database: string | undefined): Promise<void> {
  const needed = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION;
  if ((greeting.capabilities & needed) !== needed) throw new Error(`server ${greeting.version} is too old (no protocol 4.1 authentication)`);
  const pluginAuth = (greeting.capabilities & CLIENT_PLUGIN_AUTH) !== 0;
  // A default plugin we do not speak: answer as mysql_native_password and let the server switch us to the user's plugin.
  let plugin = pluginAuth && speaksPlugin(greeting.plugin) ? greeting.plugin : NATIVE_PASSWORD;
  let seed = greeting.seed;
  const authResponse = scramble(plugin, password, seed)!;

  let capabilities = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION;
  if (pluginAuth) capabilities |= CLIENT_PLUGIN_AUTH;
  if (database !== undefined) capabilities |= CLIENT_CONNECT_WITH_DB;
  const head = Buffer.alloc(32);
  head.writeUInt32LE(capabilities >>> 0, 0);
  head.writeUInt32LE(16 * 1024 * 1024, 4);
  head[8] = UTF8_GENERAL_CI;
  const parts = [head, cstring(user), Buffer.from([authResponse.length]), authResponse];
  if (database !== undefined) parts.push(cstring(database));
  if (pluginAuth) parts.push(cstring(plugin));
  ex.write(packet(greeting.seq + 1, Buffer.concat(parts)));

  for (;;) {
    const reply = await readPacket(ex, 'authentication result');
    const b = reply.payload;
    const next = reply.seq + 1;
    switch (b[0]) {
      case 0x00:
        return;
      case 0xff:
        throw new Error(serverError(b));
      case 0xfe: {
        // Auth switch request: the user's account uses another plugin, with a fresh seed.
        const end = b.indexOf(0, 1);
        if (b.length === 1 || end < 0) throw new Error('the server asks for the pre-4.1 password protocol, which is not supported');
        plugin = b.subarray(1, end).toString('latin1');
        seed = b.subarray(end + 1, end + 21);
        const response = scramble(plugin, password, seed);
        if (response === undefined) throw new Error(`authentication plugin ${plugin} is not supported`);
        ex.write(packet(next, response));
        break;
      }
      case 0x01: {
        if (plugin !== CACHING_SHA2_PASSWORD) throw new Error(`unexpected auth data from plugin ${plugin}`);
        // 3: fast authentication succeeded, OK follows. 4: full authentication needed.
        if (b[1] === 3) break;
        if (b[1] !== 4) throw new Error(`unexpected caching_sha2_password status ${b[1]}`);
        ex.write(packet(next, Buffer.from([0x02]))); // request the server's RSA public key
        const key = await readPacket(ex, 'RSA public key');
        if (key.payload[0] !== 0x01) throw new Error(key.payload[0] === 0xff ? serverError(key.payload) : 'the server sent no RSA public key');
        const pem = key.payload.subarray(1).toString('latin1');
        let encrypted: Buffer;
        try {
          encrypted = rsaEncryptPassword(password, seed, pem);
        } catch (err) {
          throw new Error(`caching_sha2_password full authentication: bad RSA key from the server (${(err as Error).message})`);
        }
        ex.write(packet(key.seq + 1, encrypted));
        break;
      }
      default:
        throw new Error(`unexpected packet during authentication: ${printable(b)}`);
    }
  }
}

/** The first column of the first row of a COM_QUERY result set (text protocol, with EOF packets). */
async function firstValue(ex: Exchange, what: string): Promise<string | null> {
  const head = (await readPacket(ex, what)).payload;
  if (head[0] === 0xff) throw new Error(serverError(head));
  if (head[0] === 0x00) throw new Error(`${what}: no result set`);
  // Column definitions, then EOF.
  while (!isEof((await readPacket(ex, what)).payload));
  let value: string | null | undefined;
  for (;;) {
    const row = (await readPacket(ex, what)).payload;
    if (isEof(row)) break;
    if (row[0] === 0xff) throw new Error(serverError(row));
    value ??= lengthEncodedString(row);
  }
  if (value === undefined) throw new Error(`${what}: no rows`);
  return value;
}

function isEof(b: Buffer): boolean {
  return b[0] === 0xfe && b.length < 9;
}

/** The first length-encoded string of a row; null for SQL NULL (0xfb). */
function lengthEncodedString(b: Buffer): string | null {
  const first = b[0]!;
  if (first === 0xfb) return null;
  let length: number;
  let at: number;
  if (first < 0xfb) [length, at] = [first, 1];
  else if (first === 0xfc) [length, at] = [b.readUInt16LE(1), 3];
  else if (first === 0xfd) [length, at] = [b.readUIntLE(1, 3), 4];
  else [length, at] = [Number(b.readBigUInt64LE(1)), 9];
  return b.subarray(at, at + length).toString('utf8');
}

/** "ERR 1045 (28000): Access denied for user ..." */
function serverError(b: Buffer): string {
  const code = b.length >= 3 ? b.readUInt16LE(1) : 0;
  const hasState = b[3] === 0x23; // '#'
  const state = hasState ? ` (${b.subarray(4, 9).toString('latin1')})` : '';
  return `ERR ${code}${state}: ${b.subarray(hasState ? 9 : 3).toString('utf8')}`;
}

async function readPacket(ex: Exchange, what: string): Promise<Packet> {
  const frame = await readFrame(
    ex,
    (b) => {
      if (b.length < 4) return undefined;
      const length = b.readUIntLE(0, 3);
      // Not a length a health-check reply has: take the header alone and report it below.
      return length > MAX_PACKET ? 4 : 4 + length;
    },
    what,
  );
  const length = frame.readUIntLE(0, 3);
  if (length > MAX_PACKET) throw new Error(`not a MySQL reply (${what}): ${printable(Buffer.concat([frame, ex.received]))}`);
  return { seq: frame[3]!, payload: frame.subarray(4) };
}

function packet(seq: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq & 0xff;
  return Buffer.concat([head, payload]);
}

function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`);
}

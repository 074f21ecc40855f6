/**
 * The PostgreSQL check, over the v3 protocol without TLS.
 *
 * Without a password (and without `role`) it only asks the server to start a
 * session and takes any reasonable answer as proof of a live server: an
 * authentication request, or a refusal of the user or database (SQLSTATE class
 * 28, 3D000), as HAProxy's `pgsql-check` does. It never sends a password, so
 * the server logs nothing. "The database system is starting up" (57P03), "too
 * many connections" and other errors fail.
 *
 * With a password it logs in (cleartext, md5 or SCRAM-SHA-256, whose server
 * signature is verified), waits for ReadyForQuery, and with `role` asks
 * `SELECT pg_is_in_recovery()`: false is a primary, true a standby. It ends
 * with Terminate, as a client that leaves cleanly does.
 */
import { createHash } from 'node:crypto';
import { defaults } from '../../config/defaults.js';
import { goodbye, readFrame } from './dialogue.js';
import { openExchange, printable, type Exchange } from './exchange.js';
import { startScram } from './scram-sha-256.js';
import { settle } from './settle.js';
import type { Probe, ProbeResult } from './types.js';

const PROTOCOL_3_0 = 196608;
/** Backend messages larger than this are not part of a login or a one-row query. */
const MAX_MESSAGE = 64 * 1024;
const TERMINATE = message('X', Buffer.alloc(0));
const IN_RECOVERY_QUERY = message('Q', cstring('SELECT pg_is_in_recovery()'));

/** `role` words: true when the member should be in recovery. */
const wantsRecovery: Record<string, boolean> = { primary: false, master: false, standby: true, replica: true };

const authNames: Record<number, string> = { 2: 'Kerberos', 3: 'password', 5: 'md5', 7: 'GSSAPI', 9: 'SSPI', 10: 'SASL' };

interface BackendMessage {
  type: string;
  body: Buffer;
}

interface ServerError {
  code: string;
  text: string;
}

export const probe: Probe = (target, check, signal) =>
  settle(async () => {
    const wantStandby = check.role === undefined ? undefined : wantsRecovery[check.role];
    if (check.role !== undefined && wantStandby === undefined) {
      return { ok: false, detail: `unknown postgres role "${check.role}" (primary or standby)` };
    }
    const login = check.password !== undefined || check.role !== undefined;
    const user = check.user ?? defaults.healthCheck.postgresUser;
    const ex = await openExchange(target, signal);
    let inSession = false;
    try {
      ex.write(startupMessage(user, check.database ?? 'postgres'));
      const refusal = await authenticate(ex, user, login ? { password: check.password } : undefined);
      if (refusal !== undefined) return refusal;
      const started = await awaitReady(ex, login);
      if ('ok' in started) return started;
      inSession = true;
      const server = started.version === undefined ? 'ready' : `ready, PostgreSQL ${started.version}`;
      if (wantStandby === undefined) return { ok: true, detail: server };

      ex.write(IN_RECOVERY_QUERY);
      const inRecovery = await queryValue(ex, 'pg_is_in_recovery()');
      if (inRecovery !== 't' && inRecovery !== 'f') throw new Error(`pg_is_in_recovery() returned ${String(inRecovery)}`);
      const isStandby = inRecovery === 't';
      const seen = `${server}, ${isStandby ? 'standby (in recovery)' : 'primary'}`;
      return isStandby === wantStandby ? { ok: true, detail: seen } : { ok: false, detail: `${seen}, want ${check.role}` };
    } finally {
      if (inSession) goodbye(ex, TERMINATE);
      else ex.close();
    }
  });

/**
 * Runs the authentication exchange. Returns a result when the check is
 * decided before a session starts (liveness mode, or a refusal); undefined
 * after AuthenticationOk.
 */
async function authenticate(ex: Exchange, user: string, credentials: { password: string | undefined } | undefined): Promise<ProbeResult | undefined> {
  for (;;) {
    const m = await readMessage(ex, 'authentication');
    if (m.type === 'E') return refusalResult(serverError(m.body), credentials === undefined);
    // NegotiateProtocolVersion (a server older than our minor version) and notices change nothing.
    if (m.type === 'v' || m.type === 'N') continue;
    if (m.type !== 'R') throw new Error(`unexpected message '${m.type}' during authentication`);
    const method = m.body.readInt32BE(0);
    if (method === 0) return undefined;
    if (credentials === undefined) return { ok: true, detail: `authentication requested (${authNames[method] ?? method})` };
    const password = credentials.password;
    if (password === undefined) throw new Error(`the server asks for a password (${authNames[method] ?? method}); set healthCheck.password`);
    switch (method) {
      case 3:
        ex.write(message('p', cstring(password)));
        break;
      case 5: {
        const inner = createHash('md5').update(password).update(user).digest('hex');
        const outer = createHash('md5').update(inner).update(m.body.subarray(4, 8)).digest('hex');
        ex.write(message('p', cstring(`md5${outer}`)));
        break;
      }
      case 10:
        await scram(ex, password, m.body.subarray(4));
        break;
      default:
        throw new Error(`authentication method ${authNames[method] ?? method} is not supported`);
    }
  }
}

async function scram(ex: Exchange, password: string, mechanismList: Buffer): Promise<void> {
  const mechanisms = mechanismList.toString('utf8').split('\0').filter(Boolean);
  // SCRAM-SHA-256-PLUS needs TLS channel binding; the plain mechanism is always offered next to it.
  if (!mechanisms.includes('SCRAM-SHA-256')) throw new Error(`no supported SASL mechanism (server offers ${mechanisms.join(', ')})`);
  const exchange = startScram(password);
  const first = Buffer.from(exchange.clientFirst);
  const length = Buffer.alloc(4);
  length.writeInt32BE(first.length);
  ex.write(message('p', Buffer.concat([cstring('SCRAM-SHA-256'), length, first])));

  const serverFirst = await saslStep(ex, 11, 'SASL continue');
  ex.write(message('p', Buffer.from(await exchange.clientFinal(serverFirst))));
  const serverFinal = await saslStep(ex, 12, 'SASL final');
  if (!exchange.verifyServerFinal(serverFinal)) throw new Error('SCRAM: the server signature does not match the password');
}

async function saslStep(ex: Exchange, method: number, what: string): Promise<string> {
  const m = await readMessage(ex, what);
  if (m.type === 'E') throw new Error(serverError(m.body).text);
  if (m.type !== 'R' || m.body.readInt32BE(0) !== method) throw new Error(`unexpected message '${m.type}' waiting for ${what}`);
  return m.body.subarray(4).toString('utf8');
}

/** After AuthenticationOk: parameters, the backend key, then ReadyForQuery. */
async function awaitReady(ex: Exchange, login: boolean): Promise<ProbeResult | { version: string | undefined }> {
  let version: string | undefined;
  for (;;) {
    const m = await readMessage(ex, 'ReadyForQuery');
    switch (m.type) {
      case 'Z':
        return { version };
      case 'S': {
        const [name, value] = m.body.toString('utf8').split('\0');
        if (name === 'server_version') version = value;
        break;
      }
      case 'E':
        return refusalResult(serverError(m.body), !login);
      case 'K':
      case 'N':
        break;
      default:
        throw new Error(`unexpected message '${m.type}' waiting for ReadyForQuery`);
    }
  }
}

/** The first column of the first row of a simple query; null for SQL NULL. */
async function queryValue(ex: Exchange, what: string): Promise<string | null | undefined> {
  let value: string | null | undefined;
  for (;;) {
    const m = await readMessage(ex, what);
    switch (m.type) {
      case 'D':
        if (value === undefined && m.body.readInt16BE(0) > 0) {
          const length = m.body.readInt32BE(2);
          value = length < 0 ? null : m.body.subarray(6, 6 + length).toString('utf8');
        }
        break;
      case 'E':
        throw new Error(serverError(m.body).text);
      case 'Z':
        return value;
      default:
        // RowDescription, CommandComplete, notices.
        break;
    }
  }
}

/**
 * A refusal in liveness mode still proves a live PostgreSQL when it is about
 * who is asking (class 28: no such role, bad password, no pg_hba.conf entry)
 * or which database (3D000). Anything else says the server cannot serve.
 */
function refusalResult(err: ServerError, liveness: boolean): ProbeResult {
  const provesLife = liveness && (err.code.startsWith('28') || err.code === '3D000');
  return { ok: provesLife, detail: err.text };
}

async function readMessage(ex: Exchange, what: string): Promise<BackendMessage> {
  const frame = await readFrame(
    ex,
    (b) => {
      if (b.length < 5) return undefined;
      const length = b.readUInt32BE(1);
      // Not a length PostgreSQL sends: take the header alone and report it below.
      return length < 4 || length > MAX_MESSAGE ? 5 : 1 + length;
    },
    what,
  );
  const length = frame.readUInt32BE(1);
  if (length < 4 || length > MAX_MESSAGE) throw new Error(`not a PostgreSQL reply (${what}): ${printable(Buffer.concat([frame, ex.received]))}`);
  return { type: String.fromCharCode(frame[0]!), body: frame.subarray(5) };
}

/** "FATAL 28P01: password authentication failed for user "app"" from an ErrorResponse's fields. */
function serverError(body: Buffer): ServerError {
  const fields = new Map<string, string>();
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    if (end < 0) break;
    fields.set(String.fromCharCode(body[at]!), body.subarray(at + 1, end).toString('utf8'));
    at = end + 1;
  }
  const code = fields.get('C') ?? '';
  // V is the untranslated severity (9.6+); S may be localised.
  const severity = fields.get('V') ?? fields.get('S') ?? 'ERROR';
  return { code, text: `${severity} ${code}: ${fields.get('M') ?? 'error'}` };
}

function startupMessage(user: string, database: string): Buffer {
  const params = Buffer.from(`user\0${user}\0database\0${database}\0application_name\0switchyard-health\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(PROTOCOL_3_0, 4);
  return Buffer.concat([head, params]);
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`);
}

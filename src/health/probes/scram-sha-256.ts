/**
 * The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel
 * binding, as PostgreSQL uses it: client-first, then client-final with the
 * proof, then a check of the server's signature, so a probe knows it talked to
 * a server that holds the password's verifier and not to an impostor.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** "n,,": no channel binding, no authorization identity. */
const GS2_HEADER = 'n,,';
/** Iteration counts past this are refused: a hostile server could otherwise make every check burn CPU. */
const MAX_ITERATIONS = 1_000_000;

export interface ScramExchange {
  /** The client-first message (sent in PostgreSQL's SASLInitialResponse). */
  clientFirst: string;
  /** Answers the server-first message; throws when it is malformed or its nonce is not ours. */
  clientFinal(serverFirst: string): Promise<string>;
  /** True when the server-final message carries the signature only the real verifier produces. */
  verifyServerFinal(serverFinal: string): boolean;
}

/**
 * Starts an exchange for `password`. PostgreSQL takes the user from the
 * startup message, so libpq (and we) leave the SCRAM user name empty; the
 * nonce is random unless given (the RFC's test vectors give one).
 */
export function startScram(password: string, user = '', clientNonce = randomBytes(18).toString('base64')): ScramExchange {
  const clientFirstBare = `n=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${clientNonce}`;
  let expectedServerSignature: Buffer | undefined;

  return {
    clientFirst: GS2_HEADER + clientFirstBare,

    async clientFinal(serverFirst) {
      const attrs = parseAttributes(serverFirst);
      const nonce = attrs.get('r');
      const salt = attrs.get('s');
      const iterations = Number(attrs.get('i'));
      if (nonce === undefined || salt === undefined || !Number.isInteger(iterations)) {
        throw new Error('SCRAM: malformed server-first message');
      }
      if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) {
        throw new Error('SCRAM: the server nonce does not extend ours');
      }
      if (iterations < 1 || iterations > MAX_ITERATIONS) throw new Error(`SCRAM: iteration count ${iterations} refused`);

      const salted = await saltedPassword(password, salt, iterations);
      const clientKey = hmac(salted, 'Client Key');
      const storedKey = createHash('sha256').update(clientKey).digest();
      const withoutProof = `c=${Buffer.from(GS2_HEADER).toString('base64')},r=${nonce}`;
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const clientSignature = hmac(storedKey, authMessage);
      const proof = Buffer.alloc(clientKey.length);
      for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
      expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
      return `${withoutProof},p=${proof.toString('base64')}`;
    },

    verifyServerFinal(serverFinal) {
      const attrs = parseAttributes(serverFinal);
      const signature = Buffer.from(attrs.get('v') ?? '', 'base64');
      return (
        expectedServerSignature !== undefined &&
        signature.length === expectedServerSignature.length &&
        timingSafeEqual(signature, expectedServerSignature)
      );
    },
  };
}

function parseAttributes(message: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part.length >= 2 && part[1] === '=') attrs.set(part[0]!, part.slice(2));
  }
  return attrs;
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

/**
 * PBKDF2 costs milliseconds of CPU per check; a server keeps a user's salt and
 * iteration count, so the result is kept for the next check of the same member.
 */
const saltedCache = new Map<string, Buffer>();
const SALTED_CACHE_SIZE = 64;

async function saltedPassword(password: string, salt: string, iterations: number): Promise<Buffer> {
  const key = `${iterations}:${salt}:${createHash('sha256').update(password).digest('base64')}`;
  const cached = saltedCache.get(key);
  if (cached !== undefined) return cached;
  const salted = await pbkdf2Async(saslPrep(password), Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
  if (saltedCache.size >= SALTED_CACHE_SIZE) saltedCache.delete(saltedCache.keys().next().value!);
  saltedCache.set(key, salted);
  return salted;
}

/** RFC 3454 C.1.2: non-ASCII spaces, which SASLprep maps to a plain space. */
const NON_ASCII_SPACE = /[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g;
/** RFC 3454 B.1: characters SASLprep maps to nothing. */
const MAPPED_TO_NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]/g;

/**
 * SASLprep (RFC 4013) as far as passwords need it: the mappings and NFKC.
 * ASCII passwords, the common case, pass through unchanged.
 */
function saslPrep(password: string): string {
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  return password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
}

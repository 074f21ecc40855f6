/**
 * MySQL/MariaDB authentication responses: the scrambles of
 * mysql_native_password (SHA-1) and caching_sha2_password (SHA-256), and the
 * RSA-encrypted password caching_sha2_password's full authentication takes
 * over a connection without TLS.
 */
import { constants, createHash, publicEncrypt } from 'node:crypto';

export const NATIVE_PASSWORD = 'mysql_native_password';
export const CACHING_SHA2_PASSWORD = 'caching_sha2_password';

export function speaksPlugin(plugin: string): boolean {
  return plugin === NATIVE_PASSWORD || plugin === CACHING_SHA2_PASSWORD;
}

/** The auth response a plugin wants for `password` and the server's 20-byte `seed`; undefined for plugins we do not speak. */
export function scramble(plugin: string, password: string, seed: Buffer): Buffer | undefined {
  // An empty password is sent as an empty response by every plugin.
  if (password === '') return Buffer.alloc(0);
  if (plugin === NATIVE_PASSWORD) return nativeScramble(password, seed);
  if (plugin === CACHING_SHA2_PASSWORD) return sha256Scramble(password, seed);
  return undefined;
}

/** SHA1(password) XOR SHA1(seed + SHA1(SHA1(password))) */
function nativeScramble(password: string, seed: Buffer): Buffer {
  const stage1 = createHash('sha1').update(password).digest();
  const stage2 = createHash('sha1').update(stage1).digest();
  const mask = createHash('sha1').update(seed).update(stage2).digest();
  return xor(stage1, mask);
}

/** SHA256(password) XOR SHA256(SHA256(SHA256(password)) + seed) */
function sha256Scramble(password: string, seed: Buffer): Buffer {
  const stage1 = createHash('sha256').update(password).digest();
  const stage2 = createHash('sha256').update(stage1).digest();
  const mask = createHash('sha256').update(stage2).update(seed).digest();
  return xor(stage1, mask);
}

/** caching_sha2_password full authentication without TLS: (password NUL) XOR seed, RSA-OAEP with the server's key. */
export function rsaEncryptPassword(password: string, seed: Buffer, publicKeyPem: string): Buffer {
  const plain = Buffer.from(`${password}\0`);
  for (let i = 0; i < plain.length; i++) plain[i] = plain[i]! ^ seed[i % seed.length]!;
  return publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING }, plain);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

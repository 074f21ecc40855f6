/**
 * MurmurHash3 (x86, 32-bit) of a string's UTF-8 bytes: fast, well mixed, and
 * the same in every process and release, so separate Switchyard instances
 * hashing the same key agree. Not for anything an attacker must not predict.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

export function murmur3(text: string, seed = 0): number {
  for (let i = 0; i < text.length; i++) {
    // Hash the UTF-8 bytes; as latin1 text each char code is one byte.
    if (text.charCodeAt(i) > 0x7f) return murmur3Latin1(Buffer.from(text, 'utf8').toString('latin1'), seed);
  }
  return murmur3Latin1(text, seed);
}

/** The hash of a string whose char codes are its bytes (ASCII or latin1). */
function murmur3Latin1(s: string, seed: number): number {
  const length = s.length;
  const blocks = length & ~3;
  let h = seed >>> 0;
  for (let i = 0; i < blocks; i += 4) {
    const k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24);
    h ^= mixK(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = length & 3;
  if (tail > 0) {
    let k = s.charCodeAt(blocks);
    if (tail > 1) k |= s.charCodeAt(blocks + 1) << 8;
    if (tail > 2) k |= s.charCodeAt(blocks + 2) << 16;
    h ^= mixK(k);
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

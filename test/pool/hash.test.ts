import t from 'tap';
import { murmur3 } from '../../src/pool/balancers/hash.js';

// Published MurmurHash3_x86_32 vectors: the hash must match the reference so that
// every Switchyard instance (and any other tool) maps keys the same way.
const vectors: [string, number, number][] = [
  ['', 0, 0],
  ['', 1, 0x514e28b7],
  ['hello', 0, 0x248bfa47],
  ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
  ['aaaa', 0x9747b28c, 0x5a97808a],
  ['aaa', 0x9747b28c, 0x283e0130],
  ['aa', 0x9747b28c, 0x5d211726],
  ['a', 0x9747b28c, 0x7fa09ea6],
  ['Hello, world!', 0x9747b28c, 0x24884cba],
  ['ππππππππ', 0x9747b28c, 0xd58063c1],
];

t.test('murmur3 matches the reference vectors', async (t) => {
  for (const [text, seed, want] of vectors) t.equal(murmur3(text, seed), want, `${JSON.stringify(text)} seed ${seed}`);
});

t.test('murmur3 is an unsigned 32-bit integer', async (t) => {
  for (let i = 0; i < 100; i++) {
    const h = murmur3(`10.0.0.${i}`);
    t.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff);
  }
});

/**
 * PROXY protocol v1/v2: parsing (valid, incremental, malformed, oversized)
 * and building (round trips, mixed families, LOCAL/UNKNOWN), checked against
 * byte strings from the spec.
 */
import t from 'tap';
import {
  buildProxyV1,
  buildProxyV2,
  crc32c,
  ipv6ToBytes,
  ipv6ToText,
  parseProxyHeader,
  V1_MAX_LENGTH,
  type ParseResult,
} from '../../src/proxy/proxy-protocol.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2(verCmd: number, famProto: number, body: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  return Buffer.concat([SIG, Buffer.from([verCmd, famProto]), len, body]);
}

function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

const inet4 = Buffer.from([192, 0, 2, 1, 198, 51, 100, 2, 0x1f, 0x90, 0x01, 0xbb]); // 192.0.2.1:8080 → 198.51.100.2:443

function done(r: ParseResult) {
  if (!r.done) throw new Error('expected a complete header');
  return r;
}

t.test('parses valid headers', async (t) => {
  const cases = [
    {
      name: 'v1 TCP4',
      bytes: Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 8080 443\r\n'),
      header: {
        version: 1,
        command: 'proxy',
        source: { address: '192.0.2.1', port: 8080 },
        destination: { address: '198.51.100.2', port: 443 },
      },
    },
    {
      name: 'v1 TCP6 (normalised text)',
      bytes: Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 65535 0\r\n'),
      header: {
        version: 1,
        command: 'proxy',
        source: { address: '2001:db8::1', port: 65535 },
        destination: { address: '::1', port: 0 },
      },
    },
    { name: 'v1 UNKNOWN', bytes: Buffer.from('PROXY UNKNOWN\r\n'), header: { version: 1, command: 'local' } },
    {
      name: 'v1 UNKNOWN with addresses (ignored)',
      bytes: Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'),
      header: { version: 1, command: 'local' },
    },
    {
      name: 'v2 PROXY INET STREAM',
      bytes: v2(0x21, 0x11, inet4),
      header: {
        version: 2,
        command: 'proxy',
        source: { address: '192.0.2.1', port: 8080 },
        destination: { address: '198.51.100.2', port: 443 },
        tlvs: [],
      },
    },
    {
      name: 'v2 PROXY INET6',
      bytes: v2(0x21, 0x21, Buffer.concat([ipv6ToBytes('2001:db8::7'), ipv6ToBytes('::ffff:10.0.0.1'), Buffer.from([0, 80, 1, 187])])),
      header: {
        version: 2,
        command: 'proxy',
        source: { address: '2001:db8::7', port: 80 },
        destination: { address: '::ffff:10.0.0.1', port: 443 },
      },
    },
    { name: 'v2 LOCAL', bytes: v2(0x20, 0x00, Buffer.alloc(0)), header: { version: 2, command: 'local', tlvs: [] } },
    {
      name: 'v2 LOCAL with an address block (ignored)',
      bytes: v2(0x20, 0x11, inet4),
      header: { version: 2, command: 'local', source: undefined },
    },
    {
      name: 'v2 PROXY UNSPEC: the connection stands',
      bytes: v2(0x21, 0x00, Buffer.alloc(0)),
      header: { version: 2, command: 'local', source: undefined },
    },
    {
      name: 'v2 PROXY UNIX: the connection stands',
      bytes: v2(0x21, 0x31, Buffer.alloc(216)),
      header: { version: 2, command: 'local', source: undefined },
    },
    {
      name: 'v2 with TLVs',
      bytes: v2(0x21, 0x11, Buffer.concat([inet4, tlv(0x01, Buffer.from('h2')), tlv(0x04, Buffer.alloc(5))])),
      header: {
        version: 2,
        command: 'proxy',
        tlvs: [
          { type: 1, value: Buffer.from('h2') },
          { type: 4, value: Buffer.alloc(5) },
        ],
      },
    },
  ];
  for (const c of cases) {
    const r = done(parseProxyHeader(Buffer.concat([c.bytes, Buffer.from('DATA')])));
    t.match(r.header, c.header, `${c.name}: header`);
    t.equal(r.length, c.bytes.length, `${c.name}: length excludes the data after it`);
  }
});

t.test('parses incrementally: every prefix needs more, the whole is done', async (t) => {
  const headers = [
    Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.2 8080 443\r\n'),
    v2(0x21, 0x11, Buffer.concat([inet4, tlv(0x05, Buffer.from('id-1'))])),
  ];
  for (const h of headers) {
    for (let n = 0; n < h.length; n++) {
      t.same(parseProxyHeader(h.subarray(0, n)), { done: false }, `prefix of ${n} bytes`);
    }
    t.equal(done(parseProxyHeader(h)).length, h.length);
  }
});

t.test('checks the v2 CRC32C when present', async (t) => {
  const body = Buffer.concat([inet4, tlv(0x03, Buffer.alloc(4))]);
  const header = v2(0x21, 0x11, body);
  const crc = crc32c(header);
  header.writeUInt32BE(crc, header.length - 4);
  t.equal(done(parseProxyHeader(header)).header.source?.port, 8080, 'a right checksum passes');
  header.writeUInt32BE((crc ^ 1) >>> 0, header.length - 4);
  t.throws(() => parseProxyHeader(header), { code: 'SWY_ERR_PROXY_HEADER', message: /CRC32C mismatch/ });
  // Known answer for CRC-32C ("123456789" → 0xe3069283).
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
});

t.test('refuses malformed and oversized headers as early as it can', async (t) => {
  const cases: [string, Buffer, RegExp][] = [
    ['not a header', Buffer.from('GET / HTTP/1.1\r\n'), /no PROXY signature/],
    ['v1 signature typo', Buffer.from('PROXX TCP4'), /bad v1 signature/],
    ['v1 lower case', Buffer.from('proxy TCP4 1.1.1.1 2.2.2.2 1 2\r\n'), /no PROXY signature/],
    ['v1 bad protocol', Buffer.from('PROXY UDP4 1.1.1.1 2.2.2.2 1 2\r\n'), /not TCP4, TCP6 or UNKNOWN/],
    ['v1 missing port', Buffer.from('PROXY TCP4 1.1.1.1 2.2.2.2 1\r\n'), /exactly/],
    ['v1 extra field', Buffer.from('PROXY TCP4 1.1.1.1 2.2.2.2 1 2 3\r\n'), /exactly/],
    ['v1 double space', Buffer.from('PROXY TCP4  1.1.1.1 2.2.2.2 1 2\r\n'), /exactly/],
    ['v1 family mismatch', Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n'), /not TCP4 addresses/],
    ['v1 TCP6 with IPv4', Buffer.from('PROXY TCP6 1.1.1.1 2.2.2.2 1 2\r\n'), /not TCP6 addresses/],
    ['v1 port too big', Buffer.from('PROXY TCP4 1.1.1.1 2.2.2.2 65536 2\r\n'), /out of range/],
    ['v1 port leading zero', Buffer.from('PROXY TCP4 1.1.1.1 2.2.2.2 080 2\r\n'), /not a decimal port/],
    ['v1 port sign', Buffer.from('PROXY TCP4 1.1.1.1 2.2.2.2 +80 2\r\n'), /not a decimal port/],
    ['v1 bare LF', Buffer.from('PROXY TCP4 1.1.1.1 2.2.2.2 1 2\n'), /CRLF/],
    ['v1 no CRLF in 107 bytes', Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(V1_MAX_LENGTH)), /longer than 107/],
    ['v1 CRLF just past 107 bytes', Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(V1_MAX_LENGTH - 15) + '\r\n'), /longer than 107/],
    ['v2 signature typo', Buffer.concat([SIG.subarray(0, 11), Buffer.from([0x0b])]), /bad v2 signature/],
    ['v2 version 1', v2(0x11, 0x11, inet4), /version 1 is not 2/],
    ['v2 command 2', v2(0x22, 0x11, inet4), /command 2/],
    ['v2 family 4', v2(0x21, 0x41, inet4), /family 4/],
    ['v2 transport 3', v2(0x21, 0x13, inet4), /transport 3/],
    ['v2 body too short for INET', v2(0x21, 0x11, inet4.subarray(0, 11)), /cannot hold its addresses/],
    ['v2 body too short for INET6', v2(0x21, 0x21, inet4), /cannot hold its addresses/],
    ['v2 truncated TLV', v2(0x21, 0x11, Buffer.concat([inet4, Buffer.from([1, 0])])), /TLV truncated/],
    ['v2 TLV past the end', v2(0x21, 0x11, Buffer.concat([inet4, Buffer.from([1, 0, 9, 1])])), /runs past/],
    ['v2 CRC TLV of 3 bytes', v2(0x21, 0x11, Buffer.concat([inet4, tlv(3, Buffer.alloc(3))])), /must be 4 bytes/],
  ];
  for (const [name, bytes, message] of cases) {
    t.throws(() => parseProxyHeader(bytes), { code: 'SWY_ERR_PROXY_HEADER', message }, name);
  }
  // An oversized v2 length is refused from the preamble alone, before the body arrives.
  const big = Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
  t.throws(() => parseProxyHeader(big), { message: /65551 bytes is over the 4096-byte limit/ }, 'v2 over the default bound');
  t.throws(() => parseProxyHeader(v2(0x21, 0x11, Buffer.concat([inet4, tlv(4, Buffer.alloc(100))])), 64), { message: /over the 64-byte limit/ });
});

t.test('builds headers that parse back', async (t) => {
  const cases = [
    {
      name: 'IPv4',
      conn: { source: { address: '192.0.2.1', port: 8080 }, destination: { address: '198.51.100.2', port: 443 } },
      v1: 'PROXY TCP4 192.0.2.1 198.51.100.2 8080 443\r\n',
      expect: { source: { address: '192.0.2.1', port: 8080 }, destination: { address: '198.51.100.2', port: 443 } },
    },
    {
      name: 'IPv6',
      conn: { source: { address: '2001:db8::7', port: 1 }, destination: { address: '::1', port: 65535 } },
      v1: 'PROXY TCP6 2001:db8::7 ::1 1 65535\r\n',
      expect: { source: { address: '2001:db8::7', port: 1 }, destination: { address: '::1', port: 65535 } },
    },
    {
      name: 'IPv4-mapped on both sides becomes IPv4',
      conn: { source: { address: '::ffff:127.0.0.1', port: 5 }, destination: { address: '::ffff:127.0.0.2', port: 6 } },
      v1: 'PROXY TCP4 127.0.0.1 127.0.0.2 5 6\r\n',
      expect: { source: { address: '127.0.0.1', port: 5 }, destination: { address: '127.0.0.2', port: 6 } },
    },
    {
      name: 'mixed families go as IPv6 with the IPv4 side mapped',
      conn: { source: { address: '10.0.0.1', port: 5 }, destination: { address: '2001:db8::1', port: 6 } },
      v1: 'PROXY TCP6 ::ffff:10.0.0.1 2001:db8::1 5 6\r\n',
      expect: { source: { address: '::ffff:10.0.0.1', port: 5 }, destination: { address: '2001:db8::1', port: 6 } },
    },
  ];
  for (const c of cases) {
    const one = buildProxyV1(c.conn);
    t.equal(one.toString('latin1'), c.v1, `${c.name}: v1 text`);
    t.match(done(parseProxyHeader(one)).header, { version: 1, command: 'proxy', ...c.expect }, `${c.name}: v1 round trip`);
    const two = buildProxyV2(c.conn);
    t.match(done(parseProxyHeader(two)).header, { version: 2, command: 'proxy', ...c.expect }, `${c.name}: v2 round trip`);
  }
  t.equal(buildProxyV1(undefined).toString(), 'PROXY UNKNOWN\r\n', 'v1 without addresses: UNKNOWN');
  t.same(buildProxyV2(undefined), v2(0x20, 0x00, Buffer.alloc(0)), 'v2 without addresses: LOCAL');
  t.same(
    buildProxyV2(cases[0]!.conn),
    v2(0x21, 0x11, inet4),
    'v2 bytes as the spec lays them out',
  );
});

t.test('IPv6 text and bytes', async (t) => {
  const cases: [string, string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ];
  for (const [input, text] of cases) t.equal(ipv6ToText(ipv6ToBytes(input)), text, input);
});

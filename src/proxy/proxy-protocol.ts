/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2): parse a header a
 * client-side balancer put in front of a connection, and build one to send to
 * a member so it learns the real client.
 *
 * Parsing is incremental and strict: feed it everything received so far; it
 * answers "need more", the header and its length, or throws SWY_ERR_PROXY_HEADER
 * as soon as the bytes cannot become a valid header (wrong signature, bad
 * field, past the size bound), so a hostile client cannot make us buffer more.
 */
import { isIP } from 'node:net';
import { SwitchyardError } from '../errors.js';
import { unmapIPv4 } from '../net/address.js';

export interface ProxyAddress {
  address: string;
  port: number;
}

export interface ProxyTlv {
  type: number;
  value: Buffer;
}

export interface ProxyHeader {
  version: 1 | 2;
  /**
   * 'proxy': source and destination name the real connection.
   * 'local': v2 LOCAL (health checks of the balancer in front) or v1/v2 with an
   * unknown family: the connection's own addresses stand.
   */
  command: 'proxy' | 'local';
  source?: ProxyAddress;
  destination?: ProxyAddress;
  /** v2 TLVs (type-length-value extensions), structurally checked; CRC32C verified when present. */
  tlvs: ProxyTlv[];
}

export type ParseResult = { done: false } | { done: true; header: ProxyHeader; length: number };

/** v1 allows at most 107 bytes including the CRLF. */
export const V1_MAX_LENGTH = 107;
/** The default bound on a whole v2 header (16-byte preamble + addresses + TLVs). */
export const V2_DEFAULT_MAX_LENGTH = 4096;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_PREAMBLE = 16;
const PP2_TYPE_CRC32C = 0x03;
const NEED_MORE: ParseResult = { done: false };

function malformed(detail: string): SwitchyardError {
  return new SwitchyardError('SWY_ERR_PROXY_HEADER', `malformed PROXY protocol header: ${detail}`);
}

/** True while `buf` is a prefix of `sig` or starts with it (compares the overlap only). */
function matchesPrefix(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.compare(sig, 0, n, 0, n) === 0;
}

/**
 * Parses a PROXY header at the start of `buf`.
 * @param maxV2Length the most bytes a v2 header may take; longer is refused.
 */
export function parseProxyHeader(buf: Buffer, maxV2Length = V2_DEFAULT_MAX_LENGTH): ParseResult {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] === V1_PREFIX[0]) {
    if (!matchesPrefix(buf, V1_PREFIX)) throw malformed('bad v1 signature');
    return parseV1(buf);
  }
  if (buf[0] === V2_SIGNATURE[0]) {
    if (!matchesPrefix(buf, V2_SIGNATURE)) throw malformed('bad v2 signature');
    return parseV2(buf, maxV2Length);
  }
  throw malformed('no PROXY signature');
}

function parseV1(buf: Buffer): ParseResult {
  const limit = Math.min(buf.length, V1_MAX_LENGTH);
  const lf = buf.subarray(0, limit).indexOf(0x0a);
  if (lf === -1) {
    if (buf.length >= V1_MAX_LENGTH) throw malformed(`v1 header longer than ${V1_MAX_LENGTH} bytes`);
    return NEED_MORE;
  }
  if (lf === 0 || buf[lf - 1] !== 0x0d) throw malformed('v1 line must end in CRLF');
  const line = buf.toString('latin1', 0, lf - 1);
  const fields = line.split(' ');
  const proto = fields[1];
  if (proto === 'UNKNOWN') {
    // The spec lets the sender put anything after UNKNOWN; the receiver ignores it.
    return { done: true, header: { version: 1, command: 'local', tlvs: [] }, length: lf + 1 };
  }
  if (proto !== 'TCP4' && proto !== 'TCP6') throw malformed(`v1 protocol "${proto ?? ''}" is not TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 6) throw malformed('v1 header needs exactly: PROXY proto src dst sport dport');
  const family = proto === 'TCP4' ? 4 : 6;
  const src = fields[2]!;
  const dst = fields[3]!;
  if (isIP(src) !== family || isIP(dst) !== family) throw malformed(`v1 addresses are not ${proto} addresses`);
  const sport = parsePort(fields[4]!);
  const dport = parsePort(fields[5]!);
  return {
    done: true,
    header: {
      version: 1,
      command: 'proxy',
      source: { address: family === 6 ? ipv6ToText(ipv6ToBytes(src)) : src, port: sport },
      destination: { address: family === 6 ? ipv6ToText(ipv6ToBytes(dst)) : dst, port: dport },
      tlvs: [],
    },
    length: lf + 1,
  };
}

function parsePort(text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) throw malformed(`v1 port "${text}" is not a decimal port`);
  const port = Number(text);
  if (port > 65535) throw malformed(`v1 port ${port} is out of range`);
  return port;
}

function parseV2(buf: Buffer, maxLength: number): ParseResult {
  if (buf.length < V2_PREAMBLE) return NEED_MORE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw malformed(`v2 version ${verCmd >> 4} is not 2`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) throw malformed(`v2 command ${cmd} is neither LOCAL nor PROXY`);
  const famProto = buf[13]!;
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  if (family > 3) throw malformed(`v2 address family ${family} is unknown`);
  if (transport > 2) throw malformed(`v2 transport ${transport} is unknown`);
  const bodyLength = buf.readUInt16BE(14);
  const total = V2_PREAMBLE + bodyLength;
  if (total > maxLength) throw malformed(`v2 header of ${total} bytes is over the ${maxLength}-byte limit`);
  if (buf.length < total) return NEED_MORE;

  const addrLength = family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0;
  if (bodyLength < addrLength) throw malformed(`v2 body of ${bodyLength} bytes cannot hold its addresses`);
  const tlvs = parseTlvs(buf, V2_PREAMBLE + addrLength, total);
  const header: ProxyHeader = { version: 2, command: 'local', tlvs };
  // LOCAL, UNSPEC and UNIX carry no usable TCP peer: the connection's own addresses stand.
  if (cmd === 1 && (family === 1 || family === 2)) {
    header.command = 'proxy';
    const a = V2_PREAMBLE;
    if (family === 1) {
      header.source = { address: ipv4ToText(buf, a), port: buf.readUInt16BE(a + 8) };
      header.destination = { address: ipv4ToText(buf, a + 4), port: buf.readUInt16BE(a + 10) };
    } else {
      header.source = { address: ipv6ToText(buf.subarray(a, a + 16)), port: buf.readUInt16BE(a + 32) };
      header.destination = { address: ipv6ToText(buf.subarray(a + 16, a + 32)), port: buf.readUInt16BE(a + 34) };
    }
  }
  const crc = tlvs.find((t) => t.type === PP2_TYPE_CRC32C);
  if (crc !== undefined) verifyCrc(buf.subarray(0, total), crc);
  return { done: true, header, length: total };
}

function parseTlvs(buf: Buffer, from: number, end: number): ProxyTlv[] {
  const tlvs: ProxyTlv[] = [];
  let at = from;
  while (at < end) {
    if (end - at < 3) throw malformed('v2 TLV truncated');
    const type = buf[at]!;
    const length = buf.readUInt16BE(at + 1);
    if (at + 3 + length > end) throw malformed(`v2 TLV 0x${type.toString(16)} runs past the header`);
    // Copied: the header's buffer may be a client read we do not want to keep alive.
    tlvs.push({ type, value: Buffer.from(buf.subarray(at + 3, at + 3 + length)) });
    at += 3 + length;
  }
  return tlvs;
}

function verifyCrc(header: Buffer, tlv: ProxyTlv): void {
  if (tlv.value.length !== 4) throw malformed('v2 CRC32C TLV must be 4 bytes');
  const expected = tlv.value.readUInt32BE(0);
  // The checksum covers the whole header with the CRC value itself zeroed.
  const copy = Buffer.from(header);
  const valueAt = findTlvValue(copy, PP2_TYPE_CRC32C);
  copy.fill(0, valueAt, valueAt + 4);
  if (crc32c(copy) !== expected) throw malformed('v2 CRC32C mismatch');
}

function findTlvValue(header: Buffer, type: number): number {
  const family = header[13]! >> 4;
  let at = V2_PREAMBLE + (family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0);
  while (header[at] !== type) at += 3 + header.readUInt16BE(at + 1);
  return at + 3;
}

let crcTable: Uint32Array | undefined;

/** CRC-32C (Castagnoli), as the v2 CRC32C TLV uses. */
export function crc32c(data: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The real connection a header describes; either side may be IPv4 or IPv6 (IPv4-mapped accepted). */
export interface ProxiedConnection {
  source: ProxyAddress;
  destination: ProxyAddress;
}

/**
 * Builds a v1 header. Mixed families are sent as TCP6 with the IPv4 side mapped
 * (as HAProxy does); without addresses, `PROXY UNKNOWN`.
 */
export function buildProxyV1(conn: ProxiedConnection | undefined): Buffer {
  if (conn === undefined) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const [src, dst, family] = sameFamily(conn);
  const proto = family === 4 ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${proto} ${src} ${dst} ${conn.source.port} ${conn.destination.port}\r\n`, 'latin1');
}

/** Builds a v2 header (PROXY over STREAM); without addresses, a LOCAL header. */
export function buildProxyV2(conn: ProxiedConnection | undefined): Buffer {
  if (conn === undefined) {
    const out = Buffer.alloc(V2_PREAMBLE);
    V2_SIGNATURE.copy(out, 0);
    out[12] = 0x20; // version 2, LOCAL
    out[13] = 0x00; // UNSPEC
    return out;
  }
  const [src, dst, family] = sameFamily(conn);
  const addrLength = family === 4 ? 12 : 36;
  const out = Buffer.alloc(V2_PREAMBLE + addrLength);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = family === 4 ? 0x11 : 0x21; // INET or INET6, STREAM
  out.writeUInt16BE(addrLength, 14);
  const a = V2_PREAMBLE;
  if (family === 4) {
    writeIPv4(out, a, src);
    writeIPv4(out, a + 4, dst);
    out.writeUInt16BE(conn.source.port, a + 8);
    out.writeUInt16BE(conn.destination.port, a + 10);
  } else {
    ipv6ToBytes(src).copy(out, a);
    ipv6ToBytes(dst).copy(out, a + 16);
    out.writeUInt16BE(conn.source.port, a + 32);
    out.writeUInt16BE(conn.destination.port, a + 34);
  }
  return out;
}

/** Puts both addresses in one family: IPv4-mapped forms unmapped, mixed pairs both as IPv6. */
function sameFamily(conn: ProxiedConnection): [string, string, 4 | 6] {
  const src = unmapIPv4(conn.source.address);
  const dst = unmapIPv4(conn.destination.address);
  const fs = isIP(src);
  const fd = isIP(dst);
  if (fs === 0 || fd === 0) throw new TypeError(`not IP addresses: ${src}, ${dst}`);
  if (fs === 4 && fd === 4) return [src, dst, 4];
  return [fs === 4 ? `::ffff:${src}` : src, fd === 4 ? `::ffff:${dst}` : dst, 6];
}

function ipv4ToText(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function writeIPv4(out: Buffer, at: number, text: string): void {
  const parts = text.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

/** Sixteen bytes of a valid IPv6 literal (`::` compression, embedded IPv4, zone id dropped). */
export function ipv6ToBytes(text: string): Buffer {
  const out = Buffer.alloc(16);
  const address = text.split('%')[0]!;
  const words: number[] = [];
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const toWords = (part: string | undefined): number[] => {
    if (part === undefined || part === '') return [];
    const ws: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const b = group.split('.').map(Number);
        ws.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else ws.push(parseInt(group, 16));
    }
    return ws;
  };
  const h = toWords(head);
  const t = toWords(tail);
  words.push(...h);
  if (tail !== undefined) for (let i = h.length + t.length; i < 8; i++) words.push(0);
  words.push(...t);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(words[i] ?? 0, i * 2);
  return out;
}

/** The RFC 5952 text of sixteen IPv6 bytes; IPv4-mapped addresses in their dotted form. */
export function ipv6ToText(bytes: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // The longest run of two or more zero words becomes `::` (the first such run on a tie).
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestAt === -1) return hex(words);
  return `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`;
}

/**
 * DNS messages (RFC 1035) as far as a health check needs them: a query for one
 * name and type, and a reply's header with its first answer of that type.
 */
import { isIP } from 'node:net';

export type QueryType = 'A' | 'AAAA' | 'SRV' | 'TXT' | 'NS' | 'MX';

const typeCodes: Record<QueryType, number> = { A: 1, NS: 2, MX: 15, TXT: 16, AAAA: 28, SRV: 33 };
const rcodeNames = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];
const CLASS_IN = 1;
const FLAG_QR = 0x8000;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const HEADER = 12;

/** A query with recursion desired; throws on a name DNS cannot carry. */
export function encodeQuery(id: number, name: string, type: QueryType): Buffer {
  const labels = name === '.' || name === '' ? [] : name.replace(/\.$/, '').split('.');
  const encoded: Buffer[] = [];
  let nameLength = 1;
  for (const label of labels) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length === 0 || bytes.length > 63) throw new Error(`bad DNS name "${name}": labels are 1 to 63 bytes`);
    encoded.push(Buffer.from([bytes.length]), bytes);
    nameLength += 1 + bytes.length;
  }
  if (nameLength > 255) throw new Error(`bad DNS name "${name}": longer than 255 bytes`);
  const header = Buffer.alloc(HEADER);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(FLAG_RD, 2);
  header.writeUInt16BE(1, 4); // QDCOUNT
  const question = Buffer.alloc(4);
  question.writeUInt16BE(typeCodes[type], 0);
  question.writeUInt16BE(CLASS_IN, 2);
  return Buffer.concat([header, ...encoded, Buffer.from([0]), question]);
}

export interface DnsReply {
  id: number;
  isResponse: boolean;
  truncated: boolean;
  rcode: string;
  answers: number;
  /** The first answer of the asked type, as text, when it is an address or a name-valued record we can render. */
  firstAnswer?: string;
}

/** The reply's header and first matching answer; undefined when it is too short to be DNS. */
export function parseReply(msg: Buffer, type: QueryType): DnsReply | undefined {
  if (msg.length < HEADER) return undefined;
  const flags = msg.readUInt16BE(2);
  const reply: DnsReply = {
    id: msg.readUInt16BE(0),
    isResponse: (flags & FLAG_QR) !== 0,
    truncated: (flags & FLAG_TC) !== 0,
    rcode: rcodeNames[flags & 0x0f] ?? `RCODE${flags & 0x0f}`,
    answers: msg.readUInt16BE(6),
  };
  const first = firstAnswer(msg, typeCodes[type]);
  if (first !== undefined) reply.firstAnswer = first;
  return reply;
}

/** Walks past the question section to the first answer record of `code`; undefined if malformed or absent. */
function firstAnswer(msg: Buffer, code: number): string | undefined {
  let at = HEADER;
  const questions = msg.readUInt16BE(4);
  for (let i = 0; i < questions; i++) {
    at = skipName(msg, at);
    if (at < 0) return undefined;
    at += 4;
  }
  const answers = msg.readUInt16BE(6);
  for (let i = 0; i < answers; i++) {
    at = skipName(msg, at);
    if (at < 0 || at + 10 > msg.length) return undefined;
    const type = msg.readUInt16BE(at);
    const length = msg.readUInt16BE(at + 8);
    const data = at + 10;
    if (data + length > msg.length) return undefined;
    if (type === code) return renderData(msg, type, data, length);
    at = data + length;
  }
  return undefined;
}

function renderData(msg: Buffer, type: number, at: number, length: number): string | undefined {
  if (type === typeCodes.A && length === 4) return [...msg.subarray(at, at + 4)].join('.');
  if (type === typeCodes.AAAA && length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(msg.readUInt16BE(at + i).toString(16));
    const text = groups.join(':');
    // Let the URL parser pick the canonical (compressed) form.
    return isIP(text) === 6 ? new URL(`http://[${text}]/`).hostname.slice(1, -1) : text;
  }
  if (type === typeCodes.NS) return readName(msg, at);
  if (type === typeCodes.MX && length > 2) return readName(msg, at + 2);
  if (type === typeCodes.SRV && length > 6) return `${readName(msg, at + 6) ?? '?'}:${msg.readUInt16BE(at + 4)}`;
  return undefined;
}

/** The offset after a (possibly compressed) name at `at`; -1 when malformed. */
function skipName(msg: Buffer, at: number): number {
  while (at < msg.length) {
    const len = msg[at]!;
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2 <= msg.length ? at + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    at += 1 + len;
  }
  return -1;
}

/** A name, following compression pointers (a bounded number of them, so a pointer loop cannot spin). */
function readName(msg: Buffer, at: number): string | undefined {
  const labels: string[] = [];
  for (let jumps = 0; jumps < 32 && at < msg.length; ) {
    const len = msg[at]!;
    if (len === 0) return labels.length === 0 ? '.' : labels.join('.');
    if ((len & 0xc0) === 0xc0) {
      if (at + 1 >= msg.length) return undefined;
      at = ((len & 0x3f) << 8) | msg[at + 1]!;
      jumps++;
      continue;
    }
    if ((len & 0xc0) !== 0 || at + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
  return undefined;
}

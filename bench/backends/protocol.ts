/**
 * The bytes the load generators and the backends exchange.
 *
 * TCP request/response is HTTP/1.1-shaped (what wrk sends to nginx in issue 6's
 * table), small and of fixed length, so a client counts responses by length
 * without parsing. Every response body is the serving member's 4-character tag,
 * so the client knows which member answered (failover, failback).
 *
 * UDP is DNS: a real A query, answered with 127.0.0.N where N-1 is the member's
 * index, so the balancers' DNS health checks work against the same backend.
 */
export const TAG_LENGTH = 4;

export function memberTag(index: number): string {
  return 'm' + String(index).padStart(TAG_LENGTH - 1, '0');
}

export function tagIndex(tag: string): number {
  return /^m\d{3}$/.test(tag) ? Number(tag.slice(1)) : -1;
}

export const REQUEST_KEEPALIVE = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
export const REQUEST_CLOSE = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
/** A backend ends the connection after answering a request that carries either (any capitalisation of `Connection`). */
export const CLOSE_MARK = Buffer.from('onnection: close');
export const HTTP10_MARK = Buffer.from('HTTP/1.0');
export const END_OF_REQUEST = Buffer.from('\r\n\r\n');

export function response(tag: string): Buffer {
  return Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${TAG_LENGTH}\r\n\r\n${tag}`);
}

export const RESPONSE_LENGTH = response(memberTag(0)).length;

/** The tag in a complete response buffer. */
export function responseTag(buf: Buffer, end = buf.length): string {
  return buf.toString('latin1', end - TAG_LENGTH, end);
}

// --- DNS ---------------------------------------------------------------

export const DNS_NAME = 'bench.example';

function encodeName(name: string): Buffer {
  const parts = name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'ascii')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

/** An A query for `name` with recursion desired; the id is written per send with `setQueryId`. */
export function dnsQuery(name = DNS_NAME): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4); // QDCOUNT
  const question = Buffer.concat([encodeName(name), Buffer.from([0, 1, 0, 1])]); // A, IN
  return Buffer.concat([header, question]);
}

export function setQueryId(query: Buffer, id: number): void {
  query.writeUInt16BE(id & 0xffff, 0);
}

export function dnsId(msg: Buffer): number {
  return msg.length >= 2 ? msg.readUInt16BE(0) : -1;
}

/** The end of the first question (offset after QTYPE/QCLASS), or -1 when the message is malformed. */
function questionEnd(msg: Buffer): number {
  let i = 12;
  while (i < msg.length) {
    const len = msg[i]!;
    if (len === 0) return i + 5 <= msg.length ? i + 5 : -1;
    if (len >= 0xc0) return -1; // compression in a question: not ours
    i += len + 1;
  }
  return -1;
}

/**
 * The answer to a query: same id and question, QR|RD|RA, one A record 127.0.0.(index+1).
 * Malformed queries get a FORMERR header, as a DNS server would.
 */
export function dnsAnswer(query: Buffer, index: number): Buffer {
  const qEnd = questionEnd(query);
  if (query.length < 12 || qEnd < 0) {
    const err = Buffer.alloc(12);
    if (query.length >= 2) query.copy(err, 0, 0, 2);
    err.writeUInt16BE(0x8181, 2); // QR, RD, RA, FORMERR
    return err;
  }
  const out = Buffer.allocUnsafe(qEnd + 16);
  query.copy(out, 0, 0, qEnd);
  out.writeUInt16BE(0x8180, 2); // QR, RD, RA, NOERROR
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(1, 6); // ANCOUNT
  out.writeUInt32BE(0, 8); // NSCOUNT, ARCOUNT
  let o = qEnd;
  out.writeUInt16BE(0xc00c, o); // name: pointer to the question
  out.writeUInt16BE(1, o + 2); // A
  out.writeUInt16BE(1, o + 4); // IN
  out.writeUInt32BE(60, o + 6); // TTL
  out.writeUInt16BE(4, o + 10);
  o += 12;
  out[o] = 127;
  out[o + 1] = 0;
  out[o + 2] = 0;
  out[o + 3] = (index + 1) & 0xff;
  return out;
}

/** The member index an answer names (last octet − 1), or -1. */
export function dnsAnswerIndex(msg: Buffer): number {
  if (msg.length < 16 || msg.readUInt16BE(6) < 1) return -1;
  return msg[msg.length - 1]! - 1;
}

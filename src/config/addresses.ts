/**
 * Addresses as the config writes them: listen addresses (IP literals, or
 * `localhost`), member addresses (IP literals or DNS names), CIDR lists, and
 * the overlap test that refuses two listeners on one socket.
 */
import { BlockList, isIP } from 'node:net';
import { parseEndpoint, type Endpoint } from '../net/address.js';
import { describe, type Checker } from './checker.js';

const LISTEN_EXPECTED = 'host:port or [v6]:port with an IP address or localhost, e.g. "0.0.0.0:6432" or "[::]:6432"';
const MEMBER_EXPECTED = 'host:port or [v6]:port, e.g. "10.0.0.11:5432", "db1.internal:5432" or "[fd00::11]:5432"';

/** A listen address: the host must be an IP literal or `localhost` (a listener binds, it does not resolve); port 0 = any free port. */
export function readListen(c: Checker, path: string, raw: unknown): Endpoint | undefined {
  const ep = readEndpoint(c, path, raw, LISTEN_EXPECTED, 0);
  if (ep === undefined) return undefined;
  if (isIP(ep.host) === 0 && ep.host !== 'localhost') {
    c.error(path, `cannot listen on "${ep.host}": expected an IP address or localhost, not a name to resolve`, {
      expected: LISTEN_EXPECTED,
    });
    return undefined;
  }
  return ep;
}

/** A member address: an IP literal, or a DNS name resolved when connecting; port 1..65535. */
export function readMemberAddress(c: Checker, path: string, raw: unknown): Endpoint | undefined {
  const ep = readEndpoint(c, path, raw, MEMBER_EXPECTED, 1);
  if (ep === undefined) return undefined;
  if (isIP(ep.host) === 0 && !isHostname(ep.host)) {
    c.error(path, `"${ep.host}" is neither an IP address nor a valid DNS name`, { expected: MEMBER_EXPECTED });
    return undefined;
  }
  return ep;
}

function readEndpoint(c: Checker, path: string, raw: unknown, expected: string, minPort: number): Endpoint | undefined {
  if (typeof raw !== 'string') {
    c.expected(path, expected, raw);
    return undefined;
  }
  const text = raw.trim();
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/.exec(text);
  if (!m) {
    const bareV6 = isIP(text.replace(/:\d+$/, '')) === 6 || isIP(text) === 6;
    const hint = bareV6 ? '; an IPv6 address goes in brackets, e.g. "[::1]:6432"' : /:\d*$/.test(text) ? '' : '; the port is missing';
    c.error(path, `expected ${expected}, got ${describe(raw)}${hint}`, { expected });
    return undefined;
  }
  const port = Number(m[3]);
  if (port < minPort || port > 65535) {
    c.error(path, `port ${m[3]} is out of range; expected ${minPort} to 65535`, { expected: `a port from ${minPort} to 65535` });
    return undefined;
  }
  if (m[1] !== undefined && isIP(m[1]) !== 6) {
    c.error(path, `"[${m[1]}]" is not an IPv6 address; brackets hold IPv6 addresses only`, { expected });
    return undefined;
  }
  const host = m[1] ?? m[2]!;
  if (host === '') {
    c.error(path, `the host is missing in ${describe(raw)}; write "0.0.0.0:${port}" or "[::]:${port}" for every address`, { expected });
    return undefined;
  }
  const ep = parseEndpoint(m[1] !== undefined ? `[${host}]:${port}` : `${host}:${port}`);
  if (ep === undefined) {
    c.expected(path, expected, raw);
    return undefined;
  }
  return { host: canonicalHost(ep.host), port: ep.port };
}

/** One spelling per address, so ids and duplicate checks agree: IPv6 compressed and lower case, names lower case. */
export function canonicalHost(host: string): string {
  if (isIP(host) === 6 && !host.includes('%') && !host.includes('.')) {
    try {
      return new URL(`http://[${host}]/`).hostname.slice(1, -1);
    } catch {
      return host.toLowerCase();
    }
  }
  return host.toLowerCase();
}

/** RFC 1123 names (underscores allowed, as SRV and internal names use them); not an all-numeric dotted quad lookalike. */
export function isHostname(host: string): boolean {
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  if (/^[\d.]+$/.test(name)) return false;
  return name.split('.').every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

/** `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128); canonical `address/prefix`, or undefined. */
export function parseCidr(text: string): string | undefined {
  const slash = text.indexOf('/');
  const addr = (slash < 0 ? text : text.slice(0, slash)).trim();
  const family = isIP(addr);
  if (family === 0 || addr.includes('%')) return undefined;
  const max = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1).trim();
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  // net.BlockList is what the listener will match with; it must take the rule too.
  try {
    new BlockList().addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return undefined;
  }
  return `${canonicalHost(addr)}/${prefix}`;
}

/**
 * Whether two listen addresses on one port and protocol would fight over the socket:
 * the same address, `0.0.0.0` against any IPv4 address, or `::` (dual-stack in Node) against anything.
 */
export function listenersOverlap(a: Endpoint, b: Endpoint): boolean {
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false;
  const hostsA = expandLocalhost(a.host);
  const hostsB = expandLocalhost(b.host);
  return hostsA.some((x) => hostsB.some((y) => hostsOverlap(x, y)));
}

function expandLocalhost(host: string): string[] {
  return host === 'localhost' ? ['127.0.0.1', '::1'] : [host];
}

function hostsOverlap(x: string, y: string): boolean {
  if (x === y || x === '::' || y === '::') return true;
  if (x === '0.0.0.0') return isIP(y) === 4;
  if (y === '0.0.0.0') return isIP(x) === 4;
  return false;
}

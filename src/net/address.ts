import { isIP } from 'node:net';

/** A host and port, as written in the config (`host:port` or `[v6]:port`). */
export interface Endpoint {
  host: string;
  port: number;
}

/** Parses `host:port` or `[v6]:port`; returns undefined when the text is not of that form. */
export function parseEndpoint(text: string): Endpoint | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const host = m[1]!;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  if (text.startsWith('[') && isIP(host) !== 6) return undefined;
  return { host, port };
}

/** The canonical text of an endpoint: `[v6]:port` for IPv6 literals, `host:port` otherwise. */
export function formatEndpoint(ep: Endpoint): string {
  return isIP(ep.host) === 6 ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so ACLs and hashing see one form of an IPv4 client. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** The text of a bound socket's address, in the same form as formatEndpoint. */
export function formatAddress(a: { address: string; port: number }): string {
  return formatEndpoint({ host: a.address, port: a.port });
}

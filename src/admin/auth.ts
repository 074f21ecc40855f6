/**
 * Who may call the admin API's POST endpoints.
 *
 * - With a token configured, a POST needs `Authorization: Bearer TOKEN`
 *   (compared in constant time). GETs stay open, as HAProxy's stats page is
 *   read-only: /status and /metrics change nothing.
 * - A POST sent by a browser (it carries `Origin`) must come from a page of
 *   this same server, so no other site can drain a member through a visitor's
 *   browser. Without a token it must also name the server by an IP address or
 *   `localhost`, which shuts out DNS rebinding. Clients that are not browsers
 *   (curl, scripts) send no Origin and are not affected.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';

/** True when the Authorization header carries exactly this bearer token. An empty token matches nothing. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = header === undefined ? null : /^Bearer[ \t]+(.*?)[ \t]*$/i.exec(header);
  // Hashing first gives equal lengths, so the comparison takes the same time whatever was sent.
  const given = createHash('sha256').update(m?.[1] ?? '').digest();
  const wanted = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, wanted) && m !== null && token !== '';
}

/** Why a browser's POST is refused, or undefined when it may go on. */
export function crossSiteRefusal(headers: IncomingHttpHeaders, tokenRequired: boolean): string | undefined {
  const origin = headers.origin;
  if (origin === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return `the request comes from an opaque or malformed origin (${origin})`;
  }
  if (url.host !== headers.host) return `the request comes from another site (${origin})`;
  if (!tokenRequired && !isLocalName(url.hostname)) {
    return `without an admin token, browser requests must address the server by IP or localhost, not ${url.hostname}`;
  }
  return undefined;
}

function isLocalName(hostname: string): boolean {
  const bare = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return bare === 'localhost' || isIP(bare) !== 0;
}

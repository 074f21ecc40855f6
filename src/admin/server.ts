/**
 * The admin HTTP API (contract in DESIGN.md):
 *
 *   GET  /                                          dashboard page (polls /status)
 *   GET  /status                                    JSON: services, members, state, weights, connections, checks
 *   GET  /metrics                                   Prometheus text
 *   GET  /healthz                                   200 "ok" while the process serves (liveness)
 *   POST /services/NAME/members/ADDRESS/ACTION      ACTION = drain | disable | enable
 *   POST /reload                                    re-read the config; a bad one is refused, the running one stays
 *
 * ADDRESS is the member's id (`10.0.0.1:5432`, `[::1]:6000`), raw or
 * percent-encoded. Errors are JSON `{ error: { code, message } }` with codes
 * from src/errors.ts. GETs are open; POSTs need the bearer token when one is
 * set, and browser POSTs must come from this server's own page (auth.ts).
 * Loopback only unless the config says otherwise. Slow or oversized requests
 * are cut off by timeouts and limits; a failing handler answers 500 and the
 * server goes on.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { AdminConfig } from '../config/types.js';
import { codes, SwitchyardError, type ErrorCode } from '../errors.js';
import { formatAddress, formatEndpoint } from '../net/address.js';
import { bearerMatches, crossSiteRefusal } from './auth.js';
import { dashboard } from './dashboard.js';

export type AdminMemberAction = 'drain' | 'disable' | 'enable';

/** What the admin API drives; the balancer (src/balancer.ts) implements it. */
export interface AdminTarget {
  /** The GET /status document (see status.ts). */
  status(): unknown;
  memberAction(service: string, member: string, action: AdminMemberAction): 'ok' | 'no-service' | 'no-member';
  reload(): Promise<{ ok: boolean; errors?: string[] }>;
  metrics(): Promise<{ contentType: string; body: string }>;
}

export interface AdminServer {
  address(): AddressInfo;
  /** Stops listening and ends open admin connections. */
  close(): Promise<void>;
}

/** Limits that keep a slow or hostile client from holding the admin API. */
const limits = {
  bodyBytes: 64 * 1024,
  headerBytes: 16 * 1024,
  headersTimeout: 5_000,
  requestTimeout: 10_000,
  keepAliveTimeout: 5_000,
  idleTimeout: 30_000,
  connections: 256,
};

type Route =
  | { method: 'GET'; name: 'dashboard' | 'status' | 'metrics' | 'healthz' }
  | { method: 'POST'; name: 'reload' }
  | { method: 'POST'; name: 'member'; service: string; member: string; action: AdminMemberAction };

const actions: ReadonlySet<string> = new Set<AdminMemberAction>(['drain', 'disable', 'enable']);

function route(segments: string[]): Route | undefined {
  const [a, b, c, d, e] = segments;
  if (segments.length === 0) return { method: 'GET', name: 'dashboard' };
  if (segments.length === 1) {
    if (a === 'status' || a === 'metrics' || a === 'healthz') return { method: 'GET', name: a };
    if (a === 'reload') return { method: 'POST', name: 'reload' };
  }
  if (segments.length === 5 && a === 'services' && c === 'members' && actions.has(e!) && b && d) {
    return { method: 'POST', name: 'member', service: b, member: d, action: e as AdminMemberAction };
  }
  return undefined;
}

/** The path's segments, percent-decoded; undefined when the encoding is broken. */
function pathSegments(url: string): string[] | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (!path.startsWith('/')) return undefined;
  if (path === '/') return [];
  try {
    return path.slice(1).split('/').map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** A refusal with its HTTP status; answered as the JSON error body. */
class HttpError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly headers: Record<string, string>;

  constructor(status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

const common = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...common, ...headers, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value, null, 2) + '\n', headers);
}

function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
}

/** Reads and discards a POST body (none is expected), refusing more than the limit. */
function readBody(req: IncomingMessage): Promise<void> {
  const tooLarge = () => new HttpError(413, 'SWY_ERR_ADMIN_TOO_LARGE', `request bodies are limited to ${limits.bodyBytes} bytes`, { Connection: 'close' });
  if (Number(req.headers['content-length'] ?? 0) > limits.bodyBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.bodyBytes) {
        req.off('data', onData);
        req.pause();
        reject(tooLarge());
      }
    };
    req.on('data', onData);
    req.once('end', () => resolve());
    req.once('error', reject);
    // A client gone before its body ended: nothing to answer, but do not leave the handler waiting.
    req.once('close', () => reject(new HttpError(400, 'SWY_ERR_ADMIN_BAD_REQUEST', 'the request body was cut short')));
  });
}

export async function startAdmin(config: AdminConfig, target: AdminTarget, logger: Logger): Promise<AdminServer> {
  const log = logger.child({ component: 'admin' });
  // An empty token (say, an environment variable set to '') fails closed: every POST is refused.
  const token = config.token;

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const segments = pathSegments(url);
    if (segments === undefined) throw new HttpError(400, 'SWY_ERR_ADMIN_BAD_REQUEST', 'the path is not valid');
    const r = route(segments);
    if (r === undefined) throw new HttpError(404, 'SWY_ERR_ADMIN_NOT_FOUND', `no such endpoint: ${url.split('?')[0]}`);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (method !== r.method) {
      const allow = r.method === 'GET' ? 'GET, HEAD' : 'POST';
      throw new HttpError(405, 'SWY_ERR_ADMIN_METHOD', `${req.method} is not allowed here; use ${allow}`, { Allow: allow });
    }

    if (r.method === 'GET') {
      if (r.name === 'dashboard') {
        send(res, 200, dashboard.contentType, dashboard.body, {
          'Content-Security-Policy': dashboard.contentSecurityPolicy,
          'Referrer-Policy': 'no-referrer',
        });
      } else if (r.name === 'status') {
        sendJson(res, 200, target.status());
      } else if (r.name === 'metrics') {
        const { contentType, body } = await target.metrics();
        send(res, 200, contentType, body);
      } else {
        send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      }
      return;
    }

    const remote = req.socket.remoteAddress;
    const refusal = crossSiteRefusal(req.headers, token !== undefined);
    if (refusal !== undefined) {
      log.warn({ remote, path: url, reason: refusal }, 'admin request refused');
      throw new HttpError(403, 'SWY_ERR_ADMIN_FORBIDDEN', refusal);
    }
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      log.warn({ remote, path: url }, 'admin request refused: missing or wrong bearer token');
      throw new HttpError(401, 'SWY_ERR_ADMIN_UNAUTHORIZED', codes.SWY_ERR_ADMIN_UNAUTHORIZED, {
        'WWW-Authenticate': 'Bearer realm="switchyard"',
      });
    }
    await readBody(req);

    if (r.name === 'reload') {
      log.info({ remote }, 'admin: reload requested');
      const result = await target.reload();
      if (result.ok) sendJson(res, 200, { ok: true });
      else {
        sendJson(res, 422, { error: { code: 'SWY_ERR_RELOAD', message: codes.SWY_ERR_RELOAD, details: result.errors ?? [] } });
      }
      return;
    }

    const { service, member, action } = r;
    const outcome = target.memberAction(service, member, action);
    log.info({ remote, service, member, action, outcome }, 'admin: member action');
    if (outcome === 'no-service') {
      throw new HttpError(404, 'SWY_ERR_ADMIN_NOT_FOUND', `no service named ${JSON.stringify(service)}`);
    }
    if (outcome === 'no-member') {
      throw new HttpError(404, 'SWY_ERR_ADMIN_NOT_FOUND', `service ${JSON.stringify(service)} has no member ${JSON.stringify(member)}`);
    }
    sendJson(res, 200, { ok: true, service, member, action });
  }

  const server: Server = createServer({ maxHeaderSize: limits.headerBytes, connectionsCheckingInterval: 1_000 }, (req, res) => {
    dispatch(req, res).catch((err: unknown) => {
      const httpError =
        err instanceof HttpError
          ? err
          : new HttpError(500, 'SWY_ERR_ADMIN_INTERNAL', codes.SWY_ERR_ADMIN_INTERNAL, { Connection: 'close' });
      if (!(err instanceof HttpError)) log.error({ err, path: req.url }, 'admin request failed');
      if (res.headersSent) res.destroy();
      else sendError(res, httpError);
      if (httpError.headers.Connection === 'close') res.once('finish', () => req.socket.destroySoon());
    });
  });
  server.headersTimeout = limits.headersTimeout;
  server.requestTimeout = limits.requestTimeout;
  server.keepAliveTimeout = limits.keepAliveTimeout;
  server.timeout = limits.idleTimeout;
  server.maxConnections = limits.connections;

  const where = formatEndpoint(config.listen);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: config.listen.host, port: config.listen.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new SwitchyardError('SWY_ERR_LISTEN', `admin API: cannot listen on ${where}: ${(err as Error).message}`, { cause: err });
  }
  server.on('error', (err) => log.error({ err }, 'admin server error'));

  const bound = server.address() as AddressInfo;
  log.info({ listen: formatAddress(bound), token: token !== undefined }, 'admin API listening');
  if (token === '') log.warn('the admin token is empty: every POST call will be refused');
  if (token === undefined && !isLoopback(config.listen.host)) {
    log.warn({ listen: where }, 'the admin API listens beyond loopback without a token: anyone who can reach it can drain and disable members');
  }

  let closing: Promise<void> | undefined;
  return {
    address: () => bound,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

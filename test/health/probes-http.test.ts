import { createServer as createHttpServer, type IncomingHttpHeaders, type RequestListener } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import type { HealthCheckConfig } from '../../src/config/types.js';
import { probe, USER_AGENT } from '../../src/health/probes/http.js';
import { checkConfig, runProbe } from '../helpers/probe-check.js';
import { refusingPort } from '../helpers/backends.js';

t.setTimeout(30_000);

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
}

/** An HTTP server on loopback that records each request; closed (all connections ended) when the test ends. */
async function httpServer(tt: Test, handler: RequestListener, host = '127.0.0.1') {
  const seen: Seen[] = [];
  const server = createHttpServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    handler(req, res);
  });
  server.listen(0, host);
  await once(server, 'listening');
  tt.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { target: { host, port: (server.address() as { port: number }).port }, seen };
}

/** A raw TCP server for replies no HTTP server would send; counts sockets closed on its side. */
async function rawServer(tt: Test, onSocket: (s: Socket) => void) {
  const stats = { accepted: 0, closed: 0 };
  const server = createServer((s) => {
    stats.accepted++;
    s.on('error', () => {});
    s.on('close', () => stats.closed++);
    onSocket(s);
    s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  tt.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { target: { host: '127.0.0.1', port: (server.address() as { port: number }).port }, stats };
}

const http = (o: Partial<HealthCheckConfig> = {}) => checkConfig('http', { path: '/healthz', ...o });

t.test('200 passes; the request is a plain HTTP/1.1 GET with Host, User-Agent and Connection: close', async (t) => {
  const { target, seen } = await httpServer(t, (_req, res) => res.end('ok'));
  const r = await runProbe(probe, target, http());
  t.equal(r.ok, true);
  t.equal(r.detail, 'HTTP 200');
  t.equal(seen.length, 1);
  t.equal(seen[0]!.method, 'GET');
  t.equal(seen[0]!.url, '/healthz');
  t.equal(seen[0]!.headers.host, `127.0.0.1:${target.port}`);
  t.equal(seen[0]!.headers['user-agent'], USER_AGENT);
  t.equal(seen[0]!.headers.connection, 'close');
});

t.test('check.host sets the Host header', async (t) => {
  const { target, seen } = await httpServer(t, (_req, res) => res.end());
  const r = await runProbe(probe, target, http({ host: 'api.example.internal' }));
  t.equal(r.ok, true);
  t.equal(seen[0]!.headers.host, 'api.example.internal');
});

t.test('IPv6: the Host header brackets the address', async (t) => {
  const { target, seen } = await httpServer(t, (_req, res) => res.end(), '::1');
  const r = await runProbe(probe, target, http());
  t.equal(r.ok, true, r.detail);
  t.equal(seen[0]!.headers.host, `[::1]:${target.port}`);
});

t.test('a status outside expectStatus fails and names the status', async (t) => {
  const { target } = await httpServer(t, (_req, res) => {
    res.statusCode = 503;
    res.end('overloaded');
  });
  const r = await runProbe(probe, target, http());
  t.equal(r.ok, false);
  t.equal(r.detail, 'HTTP 503');
});

t.test('several accepted statuses', async (t) => {
  const { target } = await httpServer(t, (_req, res) => {
    res.statusCode = 204;
    res.end();
  });
  t.equal((await runProbe(probe, target, http({ expectStatus: [200, 204] }))).ok, true);
  t.equal((await runProbe(probe, target, http({ expectStatus: [200] }))).detail, 'HTTP 204');
});

t.test('expectBody: a match passes, also when it arrives in a later chunk', async (t) => {
  const { target } = await httpServer(t, (_req, res) => {
    res.write('{"status":');
    setTimeout(() => res.end('"ready"}'), 30);
  });
  const r = await runProbe(probe, target, http({ expectBody: { kind: 'string', value: '"ready"' } }));
  t.equal(r.ok, true, r.detail);
  t.equal(r.detail, 'HTTP 200, body matched "\\"ready\\""');
  const rx = await runProbe(probe, target, http({ expectBody: { kind: 'regex', value: /"status":\s*"ready"/ } }));
  t.equal(rx.ok, true, rx.detail);
});

t.test('expectBody: a body without the match fails and shows the body', async (t) => {
  const { target } = await httpServer(t, (_req, res) => res.end('{"status":"starting"}'));
  const r = await runProbe(probe, target, http({ expectBody: { kind: 'string', value: 'ready' } }));
  t.equal(r.ok, false);
  t.equal(r.detail, 'HTTP 200, body has no "ready": "{\\"status\\":\\"starting\\"}"');
});

t.test('expectBody: the body is read up to 64 KiB, no further', async (t) => {
  const { target, stats } = await rawServer(t, (s) =>
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n');
      // An endless body: the probe must stop reading and close.
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const pump = () => {
        while (!s.destroyed && s.write(chunk));
        if (!s.destroyed) s.once('drain', pump);
      };
      pump();
    }),
  );
  const r = await runProbe(probe, target, http({ expectBody: { kind: 'string', value: 'ready' } }));
  t.equal(r.ok, false);
  t.equal(r.detail, 'HTTP 200, no "ready" in the first 65536 bytes of the body');
  await until(() => stats.closed === 1);
});

t.test('without expectBody an endless body does not hold the check: passes at the status line', async (t) => {
  const { target, stats } = await rawServer(t, (s) =>
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')),
  );
  const r = await runProbe(probe, target, http());
  t.equal(r.ok, true);
  await until(() => stats.closed === 1);
});

t.test('a server that accepts and never answers: timeout waiting for the response, socket closed', async (t) => {
  const { target, stats } = await rawServer(t, () => {});
  const r = await runProbe(probe, target, http(), 300);
  t.equal(r.ok, false);
  t.equal(r.detail, 'timeout after 300ms waiting for the response');
  t.ok(r.elapsed < 1500, `settled after ${r.elapsed}ms`);
  await until(() => stats.accepted === 1 && stats.closed === 1);
});

t.test('a body that stalls: timeout while reading it', async (t) => {
  const { target, stats } = await rawServer(t, (s) =>
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nnot yet')),
  );
  const r = await runProbe(probe, target, http({ expectBody: { kind: 'string', value: 'ready' } }), 300);
  t.equal(r.ok, false);
  t.equal(r.detail, 'timeout after 300ms reading the body');
  await until(() => stats.closed === 1);
});

t.test('a reply that is not HTTP', async (t) => {
  const { target } = await rawServer(t, (s) => s.once('data', () => s.end('+PONG\r\n')));
  const r = await runProbe(probe, target, http());
  t.equal(r.ok, false);
  t.match(r.detail, /^bad HTTP response \(HPE_[A-Z_]+\)$/);
});

t.test('the member closes without a reply', async (t) => {
  const { target } = await rawServer(t, (s) => s.once('data', () => s.end()));
  const r = await runProbe(probe, target, http());
  t.equal(r.ok, false);
  t.equal(r.detail, 'connection closed by member before the response');
});

t.test('a refused port', async (t) => {
  const { port } = await refusingPort(t);
  const r = await runProbe(probe, { host: '127.0.0.1', port }, http());
  t.equal(r.ok, false);
  t.equal(r.detail, 'connection refused');
});

t.test('a path Node will not send fails the check instead of throwing', async (t) => {
  const { target } = await httpServer(t, (_req, res) => res.end());
  const r = await runProbe(probe, target, http({ path: '/health z' }));
  t.equal(r.ok, false);
  t.match(r.detail, /^cannot send request: /);
});

async function until(test: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

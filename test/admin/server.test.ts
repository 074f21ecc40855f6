import t, { type Test } from 'tap';
import { request } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { startAdmin, type AdminMemberAction, type AdminServer, type AdminTarget } from '../../src/admin/server.js';
import { SwitchyardError } from '../../src/errors.js';
import { createLogger } from '../../src/observe/logger.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): { error?: { code: string; message: string; details?: string[] }; [k: string]: unknown };
}

function call(server: AdminServer, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  const { port, address } = server.address();
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, method, path, headers, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: text, json: () => JSON.parse(text) as ReturnType<Reply['json']> }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** A stand-in balancer that records what the admin API asked of it. */
class FakeTarget implements AdminTarget {
  actions: Array<[string, string, AdminMemberAction]> = [];
  reloads = 0;
  reloadResult: { ok: boolean; errors?: string[] } = { ok: true };
  failMetrics = false;
  members: Record<string, string[]> = { pg: ['127.0.0.1:6000', '[::1]:6000'] };

  status(): unknown {
    return { version: 'test', uptimeSeconds: 1, services: Object.keys(this.members).map((name) => ({ name })) };
  }

  memberAction(service: string, member: string, action: AdminMemberAction): 'ok' | 'no-service' | 'no-member' {
    const members = this.members[service];
    if (!members) return 'no-service';
    if (!members.includes(member)) return 'no-member';
    this.actions.push([service, member, action]);
    return 'ok';
  }

  async reload(): Promise<{ ok: boolean; errors?: string[] }> {
    this.reloads++;
    return this.reloadResult;
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    if (this.failMetrics) throw new Error('registry exploded');
    return { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'switchyard_member_up{service="pg",member="127.0.0.1:6000"} 1\n' };
  }
}

function quietLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

async function setup(t: Test, token?: string) {
  const target = new FakeTarget();
  const { lines, logger } = quietLogger();
  const server = await startAdmin({ listen: { host: '127.0.0.1', port: 0 }, ...(token ? { token } : {}) }, target, logger);
  t.teardown(() => server.close());
  return { target, server, lines };
}

t.test('GET /status, /metrics, /healthz and the dashboard', async (t) => {
  const { server } = await setup(t);

  const status = await call(server, 'GET', '/status');
  t.equal(status.status, 200);
  t.match(status.headers['content-type'], /^application\/json/);
  t.equal(status.headers['cache-control'], 'no-store');
  t.same(status.json(), { version: 'test', uptimeSeconds: 1, services: [{ name: 'pg' }] });

  const metrics = await call(server, 'GET', '/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(metrics.body, /^switchyard_member_up\{service="pg",member="127.0.0.1:6000"\} 1$/m);

  const health = await call(server, 'GET', '/healthz');
  t.equal(health.status, 200);
  t.equal(health.body, 'ok\n');

  const page = await call(server, 'GET', '/');
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /<title>Switchyard<\/title>/);
  t.match(page.body, /fetch\('status'/, 'polls /status');
  t.notMatch(page.body, /<(script|link|img)[^>]+(src|href)=/, 'self-contained: no external assets');
  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /default-src 'none'/);
  t.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
  t.match(csp, /connect-src 'self'/);

  const head = await call(server, 'HEAD', '/status');
  t.equal(head.status, 200);
  t.equal(head.body, '', 'HEAD has no body');

  const query = await call(server, 'GET', '/status?pretty=1');
  t.equal(query.status, 200, 'a query string does not change the route');
});

t.test('member actions: encoded and raw addresses, IPv6', async (t) => {
  const { server, target, lines } = await setup(t);

  const encoded = await call(server, 'POST', '/services/pg/members/127.0.0.1%3A6000/drain');
  t.equal(encoded.status, 200);
  t.same(encoded.json(), { ok: true, service: 'pg', member: '127.0.0.1:6000', action: 'drain' });

  const raw = await call(server, 'POST', '/services/pg/members/127.0.0.1:6000/disable');
  t.equal(raw.status, 200);
  const v6raw = await call(server, 'POST', '/services/pg/members/[::1]:6000/enable');
  t.equal(v6raw.status, 200);
  const v6encoded = await call(server, 'POST', '/services/pg/members/%5B%3A%3A1%5D%3A6000/drain');
  t.equal(v6encoded.status, 200);

  t.same(target.actions, [
    ['pg', '127.0.0.1:6000', 'drain'],
    ['pg', '127.0.0.1:6000', 'disable'],
    ['pg', '[::1]:6000', 'enable'],
    ['pg', '[::1]:6000', 'drain'],
  ]);
  t.ok(lines.some((l) => l.msg === 'admin: member action' && l.action === 'drain' && l.outcome === 'ok'), 'actions are logged');
});

t.test('404s are JSON with SWY_ERR_ADMIN_NOT_FOUND; 405 names the allowed methods; 400 for bad encoding', async (t) => {
  const { server, target } = await setup(t);

  const noService = await call(server, 'POST', '/services/nope/members/127.0.0.1%3A6000/drain');
  t.equal(noService.status, 404);
  t.match(noService.headers['content-type'], /^application\/json/);
  t.equal(noService.json().error?.code, 'SWY_ERR_ADMIN_NOT_FOUND');
  t.match(noService.json().error?.message, /no service named "nope"/);

  const noMember = await call(server, 'POST', '/services/pg/members/127.0.0.1%3A9999/drain');
  t.equal(noMember.status, 404);
  t.equal(noMember.json().error?.code, 'SWY_ERR_ADMIN_NOT_FOUND');
  t.match(noMember.json().error?.message, /has no member "127.0.0.1:9999"/);

  for (const path of ['/nothing', '/status/', '/services/pg/members/127.0.0.1%3A6000/explode', '/services/pg', '/services//members//drain']) {
    const r = await call(server, 'POST', path);
    t.equal(r.status, 404, path);
    t.equal(r.json().error?.code, 'SWY_ERR_ADMIN_NOT_FOUND', path);
  }

  const getAction = await call(server, 'GET', '/services/pg/members/127.0.0.1%3A6000/drain');
  t.equal(getAction.status, 405);
  t.equal(getAction.headers.allow, 'POST');
  t.equal(getAction.json().error?.code, 'SWY_ERR_ADMIN_METHOD');

  const postStatus = await call(server, 'POST', '/status');
  t.equal(postStatus.status, 405);
  t.equal(postStatus.headers.allow, 'GET, HEAD');
  const deleteReload = await call(server, 'DELETE', '/reload');
  t.equal(deleteReload.status, 405);

  const badEncoding = await call(server, 'POST', '/services/pg/members/%zz/drain');
  t.equal(badEncoding.status, 400);
  t.equal(badEncoding.json().error?.code, 'SWY_ERR_ADMIN_BAD_REQUEST');

  t.same(target.actions, [], 'nothing acted on');
});

t.test('with a token: POST needs the bearer token, GETs stay open', async (t) => {
  const token = 's3cret-token';
  const { server, target, lines } = await setup(t, token);
  const path = '/services/pg/members/127.0.0.1%3A6000/drain';

  const none = await call(server, 'POST', path);
  t.equal(none.status, 401);
  t.equal(none.json().error?.code, 'SWY_ERR_ADMIN_UNAUTHORIZED');
  t.match(none.headers['www-authenticate'], /^Bearer/);

  for (const authorization of [`Bearer ${token}x`, `Bearer s3cret-toke`, `Basic ${token}`, token, 'Bearer ', `Bearer  ${token} extra`]) {
    const r = await call(server, 'POST', path, { authorization });
    t.equal(r.status, 401, `refused: ${authorization}`);
  }
  t.equal((await call(server, 'POST', '/reload')).status, 401);
  t.equal(target.reloads, 0);

  const ok = await call(server, 'POST', path, { authorization: `Bearer ${token}` });
  t.equal(ok.status, 200);
  const caseInsensitive = await call(server, 'POST', path, { authorization: `bearer ${token}` });
  t.equal(caseInsensitive.status, 200, 'the scheme is case-insensitive');
  t.equal(target.actions.length, 2);

  // A wrong token learns nothing about which services exist.
  const unknown = await call(server, 'POST', '/services/nope/members/x/drain');
  t.equal(unknown.status, 401);

  t.equal((await call(server, 'GET', '/status')).status, 200);
  t.equal((await call(server, 'GET', '/metrics')).status, 200);
  t.equal((await call(server, 'GET', '/')).status, 200);
  t.ok(lines.some((l) => l.level === 'warn' && String(l.msg).includes('bearer token')), 'refusals are logged');
  t.notOk(JSON.stringify(lines).includes(token), 'the token never reaches the log');
});

t.test('browser POSTs must come from this server; without a token, by IP or localhost', async (t) => {
  const { server, target } = await setup(t);
  const { port } = server.address();
  const path = '/services/pg/members/127.0.0.1%3A6000/drain';

  const cross = await call(server, 'POST', path, { origin: 'http://evil.example' });
  t.equal(cross.status, 403);
  t.equal(cross.json().error?.code, 'SWY_ERR_ADMIN_FORBIDDEN');
  const opaque = await call(server, 'POST', path, { origin: 'null' });
  t.equal(opaque.status, 403);
  // DNS rebinding: the attacker's name resolves to 127.0.0.1, so Origin and Host agree.
  const rebound = await call(server, 'POST', path, { origin: `http://rebind.example:${port}`, host: `rebind.example:${port}` });
  t.equal(rebound.status, 403);
  t.same(target.actions, []);

  const sameOrigin = await call(server, 'POST', path, { origin: `http://127.0.0.1:${port}` });
  t.equal(sameOrigin.status, 200, 'the dashboard itself');
  const localhost = await call(server, 'POST', path, { origin: `http://localhost:${port}`, host: `localhost:${port}` });
  t.equal(localhost.status, 200);
  t.equal(target.actions.length, 2);
});

t.test('an empty token fails closed', async (t) => {
  const target = new FakeTarget();
  const { lines, logger } = quietLogger();
  const server = await startAdmin({ listen: { host: '127.0.0.1', port: 0 }, token: '' }, target, logger);
  t.teardown(() => server.close());
  t.equal((await call(server, 'POST', '/reload')).status, 401);
  t.equal((await call(server, 'POST', '/reload', { authorization: 'Bearer ' })).status, 401);
  t.equal(target.reloads, 0);
  t.ok(lines.some((l) => l.level === 'warn' && String(l.msg).includes('empty')));
});

t.test('with a token, a same-origin browser POST by host name is fine', async (t) => {
  const { server } = await setup(t, 'tok');
  const { port } = server.address();
  const r = await call(server, 'POST', '/reload', {
    origin: `http://lb1.internal:${port}`,
    host: `lb1.internal:${port}`,
    authorization: 'Bearer tok',
  });
  t.equal(r.status, 200);
});

t.test('POST /reload: accepted, or refused with the errors', async (t) => {
  const { server, target } = await setup(t);
  const ok = await call(server, 'POST', '/reload');
  t.equal(ok.status, 200);
  t.same(ok.json(), { ok: true });

  target.reloadResult = { ok: false, errors: ['services[0].listen: expected host:port (line 4)'] };
  const refused = await call(server, 'POST', '/reload');
  t.equal(refused.status, 422);
  t.equal(refused.json().error?.code, 'SWY_ERR_RELOAD');
  t.same(refused.json().error?.details, ['services[0].listen: expected host:port (line 4)']);
  t.equal(target.reloads, 2);
});

t.test('bodies are bounded; a failing target answers 500 and the server goes on', async (t) => {
  const { server, target, lines } = await setup(t);
  const big = 'x'.repeat(100 * 1024);
  const declared = await call(server, 'POST', '/reload', { 'content-type': 'text/plain' }, big);
  t.equal(declared.status, 413);
  t.equal(declared.json().error?.code, 'SWY_ERR_ADMIN_TOO_LARGE');
  const chunked = await call(server, 'POST', '/reload', { 'transfer-encoding': 'chunked' }, big);
  t.equal(chunked.status, 413);
  t.equal(target.reloads, 0);
  const small = await call(server, 'POST', '/reload', {}, '{}');
  t.equal(small.status, 200, 'a small body is read and ignored');

  target.failMetrics = true;
  const failed = await call(server, 'GET', '/metrics');
  t.equal(failed.status, 500);
  t.equal(failed.json().error?.code, 'SWY_ERR_ADMIN_INTERNAL');
  t.notMatch(failed.body, /exploded/, 'internals stay in the log');
  t.ok(lines.some((l) => l.level === 'error' && JSON.stringify(l).includes('registry exploded')));
  t.equal((await call(server, 'GET', '/status')).status, 200, 'still serving');
});

t.test('a client that never finishes its headers is cut off', async (t) => {
  t.setTimeout(30_000);
  const { server } = await setup(t);
  const { port } = server.address();
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
  const started = Date.now();
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const took = Date.now() - started;
  t.ok(took < 20_000, `closed after ${took} ms`);
  t.match(answer, /^HTTP\/1\.1 408/, 'told it timed out');
  t.equal((await call(server, 'GET', '/status')).status, 200, 'still serving');
});

t.test('listen failure is a SwitchyardError; close ends keep-alive connections', async (t) => {
  const blocker = createTcpServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => blocker.close());
  const taken = (blocker.address() as AddressInfo).port;
  const { logger } = quietLogger();
  const failure = await startAdmin({ listen: { host: '127.0.0.1', port: taken } }, new FakeTarget(), logger).then(
    () => undefined,
    (err: unknown) => err,
  );
  t.ok(failure instanceof SwitchyardError, 'a SwitchyardError');
  t.equal((failure as SwitchyardError).code, 'SWY_ERR_LISTEN');
  t.match((failure as SwitchyardError).message, `127.0.0.1:${taken}`);

  const server = await startAdmin({ listen: { host: '127.0.0.1', port: 0 } }, new FakeTarget(), logger);
  const { port } = server.address();
  const socket = connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await server.close();
  await closed;
  await server.close();
  t.pass('closed, twice without harm');
});

t.test('IPv6 loopback', async (t) => {
  const { logger } = quietLogger();
  const target = new FakeTarget();
  const server = await startAdmin({ listen: { host: '::1', port: 0 } }, target, logger);
  t.teardown(() => server.close());
  t.equal(server.address().address, '::1');
  const r = await call(server, 'POST', '/services/pg/members/%5B%3A%3A1%5D%3A6000/disable');
  t.equal(r.status, 200);
  t.same(target.actions, [['pg', '[::1]:6000', 'disable']]);
});

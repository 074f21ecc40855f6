import { createServer, type Socket } from 'node:net';
import t from 'tap';
import { probe } from '../../src/health/probes/redis.js';
import { checkConfig, runProbe } from '../helpers/probe-check.js';
import { refusingPort } from '../helpers/backends.js';
import { startRedis } from '../helpers/servers.js';

t.setTimeout(60_000);

const PASSWORD = 'sekret pass';
const [open, locked] = await Promise.all([startRedis(), startRedis({ password: PASSWORD })]);
t.teardown(() => Promise.all([open.stop(), locked.stop()]));
const replica = await startRedis({ replicaOf: { host: open.host, port: open.port } });
t.teardown(() => replica.stop());

const at = (s: { host: string; port: number }) => ({ host: s.host, port: s.port });

const cases: Array<{ name: string; server: () => { host: string; port: number }; check: Parameters<typeof checkConfig>[1]; ok: boolean; detail: RegExp }> = [
  { name: 'PING on an open server', server: () => at(open), check: {}, ok: true, detail: /^\+PONG$/ },
  { name: 'AUTH then PING', server: () => at(locked), check: { password: PASSWORD }, ok: true, detail: /^\+PONG$/ },
  { name: 'AUTH with user and password (ACL form)', server: () => at(locked), check: { user: 'default', password: PASSWORD }, ok: true, detail: /^\+PONG$/ },
  { name: 'no password where one is required', server: () => at(locked), check: {}, ok: false, detail: /^-NOAUTH/ },
  { name: 'wrong password', server: () => at(locked), check: { password: 'wrong' }, ok: false, detail: /^AUTH refused: -(WRONGPASS|ERR)/ },
  { name: 'role master on the master', server: () => at(open), check: { role: 'master' }, ok: true, detail: /^\+PONG role:master$/ },
  { name: 'role replica on the master', server: () => at(open), check: { role: 'replica' }, ok: false, detail: /role:master, want role:slave/ },
  { name: 'role replica on the replica', server: () => at(replica), check: { role: 'replica' }, ok: true, detail: /^\+PONG role:slave link:\w+$/ },
  { name: 'role master on the replica', server: () => at(replica), check: { role: 'master' }, ok: false, detail: /role:slave.*want role:master/ },
  { name: 'role with password', server: () => at(locked), check: { password: PASSWORD, role: 'master' }, ok: true, detail: /^\+PONG role:master$/ },
  { name: 'unknown role', server: () => at(open), check: { role: 'leader' }, ok: false, detail: /unknown redis role "leader"/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = await runProbe(probe, c.server(), checkConfig('redis', c.check));
    t.equal(r.ok, c.ok, r.detail);
    t.match(r.detail, c.detail);
  });
}

t.test('a refused port fails at once', async (t) => {
  const { port } = await refusingPort(t);
  const r = await runProbe(probe, { host: '127.0.0.1', port }, checkConfig('redis'));
  t.equal(r.ok, false);
  t.equal(r.detail, 'connection refused');
  t.ok(r.elapsed < 1000, `settled in ${r.elapsed}ms`);
});

t.test('a server that accepts and says nothing: the probe settles when the signal aborts', async (t) => {
  const sockets = new Set<Socket>();
  const silent = createServer((s) => {
    sockets.add(s);
    s.resume();
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const port = (silent.address() as { port: number }).port;
  const r = await runProbe(probe, { host: '127.0.0.1', port }, checkConfig('redis'), 300);
  t.equal(r.ok, false);
  t.equal(r.detail, 'timeout after 300ms waiting for PING reply');
  t.ok(r.elapsed >= 290 && r.elapsed < 1500, `settled in ${r.elapsed}ms`);
  // The probe destroyed its socket: the server sees the connection close.
  const deadline = Date.now() + 2000;
  while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(sockets.size, 0, 'the probe closed its connection');
});

t.test('a server that speaks something else fails with what it said', async (t) => {
  const other = createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.teardown(() => other.close());
  const port = (other.address() as { port: number }).port;
  const r = await runProbe(probe, { host: '127.0.0.1', port }, checkConfig('redis'));
  t.equal(r.ok, false);
  t.match(r.detail, /^not a Redis reply \(PING reply\): "HTTP\/1.1 400 Bad Request"/);
});

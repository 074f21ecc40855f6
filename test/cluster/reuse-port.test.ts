// `workers: 2` where Node.js has reusePort (22.12 and later): each worker binds its own listening
// sockets on the one port (port 0 included: the first worker picks it, the other binds the same), so
// every datagram of a UDP client reaches the worker that holds its session, and connections spread
// over both workers. Where Node.js has no reusePort (20), the workers share the primary's sockets and
// the primary says what that means for UDP, at start and on a reload that adds a UDP service.
// CI runs the suite on Node.js 20, 22 and 24.
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { reusePortWorks } from '../../src/net/reuse-port.js';
import { startChildBackend } from '../helpers/child-backend.js';
import { startCli, until, type Line } from '../helpers/cli.js';
import { startChildUdpBackend, udpClient, type UdpClient } from '../helpers/udp-backends.js';
import { access } from '../helpers/workers.js';

t.setTimeout(90_000);

const find = (lines: Line[], msg: string) => lines.find((l) => l.msg === msg);
const SHARED_UDP =
  "UDP with workers on a Node.js without reusePort (before 22.12): the workers share one socket, so one client's datagrams may reach several workers, each with a session and member of its own; run Node.js >= 22.12, or workers: 1, for one session per client";

t.test('UDP: each client is served by one worker and one member', async (t) => {
  const reusePort = await reusePortWorks();
  const a = await startChildUdpBackend({ name: 'a' });
  const b = await startChildUdpBackend({ name: 'b' });
  t.teardown(() => Promise.all([a.kill(), b.kill()]));
  const r = await startCli(
    t,
    `workers: 2
admin: 127.0.0.1:0
services:
  - name: dns
    protocol: udp
    listen: 127.0.0.1:0
    balance: roundrobin
    healthCheck: { type: none }
    members: [ "127.0.0.1:${a.port}", "127.0.0.1:${b.port}" ]
`,
  );
  const serving = await r.waitFor((l) => l.msg === 'workers serving');
  t.equal(serving.listeners, reusePort ? 'one per worker (SO_REUSEPORT)' : 'shared');
  const warning = find(r.lines, SHARED_UDP);
  if (!reusePort) {
    // Sharing one socket, the workers take turns at a client's datagrams: the primary must say so.
    t.same(warning?.services, ['dns'], 'the primary warns which services it concerns');
    return;
  }
  t.equal(warning, undefined, 'no warning where each worker has its own socket');

  // 16 clients with 8 queries in flight each, the load under which a shared socket splits a client
  // over both workers (and so both members: each worker's round robin starts its own sessions).
  const clients: UdpClient[] = await Promise.all(Array.from({ length: 16 }, () => udpClient({ host: '127.0.0.1', port: r.port })));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const served = await Promise.all(
    clients.map(async (c, i) => {
      const tags = new Set<string>();
      for (let k = 0; k < 8; k++) c.send(`c${i}`);
      for (let n = 0; n < 150; n++) {
        const reply = (await c.next(2000)).toString();
        tags.add(reply.slice(0, reply.indexOf('|')));
        c.send(`c${i}`);
      }
      return [...tags];
    }),
  );
  for (const [i, tags] of served.entries()) t.equal(tags.length, 1, `client ${i} answered by one member only (${tags.join(', ')})`);
  t.same([...new Set(served.flat())].sort(), ['a', 'b'], 'the clients are spread over both members');
});

t.test('TCP: connections are served from a port-0 listener, by both workers where each has its own socket', async (t) => {
  const reusePort = await reusePortWorks();
  const echo = await startChildBackend('echo');
  t.teardown(() => echo.kill());
  const r = await startCli(
    t,
    `workers: 2
admin: 127.0.0.1:0
log: { access: true }
services:
  - name: web
    protocol: tcp
    listen: 127.0.0.1:0
    healthCheck: { type: none }
    members: [ "127.0.0.1:${echo.port}" ]
`,
  );
  // 64 connections opened at once and held, as a client pool opens them.
  const sockets = await Promise.all(
    Array.from(
      { length: 64 },
      (_, i) =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(r.port, '127.0.0.1');
          s.once('error', reject);
          s.once('data', () => resolve(s));
          s.write(`hello ${i}`);
        }),
    ),
  );
  for (const s of sockets) s.end();
  await until('an access line per connection', 10_000, () => access(r).length === 64);
  const workers = new Set(access(r).map((l) => l.pid));
  t.notOk(workers.has(r.child.pid), 'the primary relays no connection');
  if (reusePort) t.equal(workers.size, 2, 'both workers served some of the 64 (the kernel hashes them over their sockets)');
  else t.ok(workers.size >= 1, 'the workers sharing one socket served them all');
});

t.test('a reload that adds a UDP service warns of it where the workers share sockets', async (t) => {
  const reusePort = await reusePortWorks();
  const echo = await startChildBackend('echo');
  const dns = await startChildUdpBackend({ name: 'a' });
  t.teardown(() => Promise.all([echo.kill(), dns.kill()]));
  const tcp = `  - name: web
    protocol: tcp
    listen: 127.0.0.1:0
    healthCheck: { type: none }
    members: [ "127.0.0.1:${echo.port}" ]
`;
  const head = 'workers: 2\nadmin: 127.0.0.1:0\nservices:\n';
  const r = await startCli(t, head + tcp);
  await r.waitFor((l) => l.msg === 'workers serving');
  t.equal(find(r.lines, SHARED_UDP), undefined, 'no warning for a config without UDP');
  // The TCP listener keeps the port it got, so the reload changes nothing else.
  const bound = tcp.replace('127.0.0.1:0', `127.0.0.1:${r.port}`);
  writeFileSync(
    r.file,
    `${head}${bound}  - name: dns
    protocol: udp
    listen: 127.0.0.1:0
    healthCheck: { type: none }
    members: [ "127.0.0.1:${dns.port}" ]
`,
  );
  const reloads = () => r.lines.filter((l) => l.msg === 'config reloaded').length;
  r.child.kill('SIGHUP');
  await until('the reload', 15_000, () => reloads() === 1);
  // The same file again: a later line than any the first reload wrote, and a reload that adds nothing.
  r.child.kill('SIGHUP');
  await until('the second reload', 15_000, () => reloads() === 2);
  const warnings = r.lines.filter((l) => l.msg === SHARED_UDP);
  if (reusePort) t.equal(warnings.length, 0, 'no warning where each worker has its own socket');
  else t.same(warnings.map((w) => w.services), [['dns']], 'one warning, naming the service the reload added');
});

import { createSocket, type RemoteInfo } from 'node:dgram';
import t from 'tap';
import type { SessionRecord } from '../../src/proxy/types.js';
import { UdpListener } from '../../src/proxy/udp.js';
import {
  backendFor,
  clientFor,
  nextEvent,
  startUdpListener,
  udpClient,
  udpMember,
  udpPool,
  udpServiceConfig,
  waitUntil,
} from '../helpers/udp-backends.js';

t.setTimeout(30_000);

t.test('echo through the proxy, with counters and a session record', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const member = udpMember(b);
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([member]));
  const c = await clientFor(t, listener);
  c.send('hello');
  t.equal((await c.next()).toString(), 'hello');
  c.send('again!');
  t.equal((await c.next()).toString(), 'again!');
  t.equal(listener.activeCount, 1);
  t.equal(member.active, 1);
  t.equal(member.attachments.size, 1);
  t.equal(member.bytesIn, 11);
  t.equal(member.bytesOut, 11);
  const ended = nextEvent(listener, 'session-end');
  listener.closeAll('shutdown');
  const rec = await ended;
  t.match(rec, {
    service: 'udp-test',
    protocol: 'udp',
    client: `127.0.0.1:${c.port}`,
    member: `127.0.0.1:${b.port}`,
    bytesIn: 11,
    bytesOut: 11,
    datagramsIn: 2,
    datagramsOut: 2,
    end: 'shutdown',
    retries: 0,
    reroutes: 0,
  });
  t.equal(member.active, 0);
  t.equal(member.attachments.size, 0);
});

t.test('first reply reports the member reachable', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const member = udpMember(b);
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([member]));
  const results: { ok: boolean }[] = [];
  listener.on('connect-result', (r) => results.push(r));
  const c = await clientFor(t, listener);
  for (let i = 0; i < 3; i++) {
    c.send(`q${i}`);
    await c.next();
  }
  t.same(results.map((r) => r.ok), [true], 'one ok per session and member, not one per datagram');
});

t.test('replies return to the right client among many', async (t) => {
  const backends = [await backendFor(t, { mode: 'echo' }), await backendFor(t, { mode: 'echo' })];
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool(backends.map(udpMember)));
  const clients = await Promise.all(Array.from({ length: 20 }, () => clientFor(t, listener)));
  const rounds = 10;
  for (let r = 0; r < rounds; r++) {
    clients.forEach((c, i) => c.send(`client ${i} round ${r}`));
  }
  for (const [i, c] of clients.entries()) {
    const got = new Set<string>();
    for (let r = 0; r < rounds; r++) got.add((await c.next()).toString());
    const own = Array.from({ length: rounds }, (_, r) => `client ${i} round ${r}`);
    t.same([...got].sort(), own.sort(), `client ${i} heard only its own`);
  }
  t.equal(listener.activeCount, clients.length);
});

t.test('an idle session ends with a record', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const member = udpMember(b);
  const listener = await startUdpListener(t, udpServiceConfig({ idleTimeout: 200 }), udpPool([member]));
  const c = await clientFor(t, listener);
  const ended = nextEvent(listener, 'session-end');
  const sentAt = performance.now();
  c.send('x');
  await c.next();
  const rec = await ended;
  t.equal(rec.end, 'idle-timeout');
  t.ok(performance.now() - sentAt >= 200, 'not before the idle timeout');
  t.ok(rec.durationMs < 1000, `ended within a sweep or two (${rec.durationMs}ms)`);
  t.equal(listener.activeCount, 0);
  t.equal(member.active, 0);
});

t.test('maxSessions: datagrams from further clients are dropped and counted', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const listener = await startUdpListener(t, udpServiceConfig({ maxSessions: 2 }), udpPool([udpMember(b)]));
  const [c1, c2, c3] = [await clientFor(t, listener), await clientFor(t, listener), await clientFor(t, listener)];
  c1.send('1');
  await c1.next();
  c2.send('2');
  await c2.next();
  const dropped = nextEvent(listener, 'drop');
  c3.send('three');
  t.same(await dropped, { reason: 'max-sessions', bytes: 5 });
  await t.rejects(c3.next(200), 'the third client hears nothing');
  c1.send('1 again');
  t.equal((await c1.next()).toString(), '1 again', 'existing sessions go on');
  t.equal(listener.activeCount, 2);
});

t.test('responsesPerSession 1 ends the session after its reply', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const member = udpMember(b);
  const listener = await startUdpListener(t, udpServiceConfig({ responsesPerSession: 1 }), udpPool([member]));
  const c = await clientFor(t, listener);
  const ended = nextEvent(listener, 'session-end');
  c.send('q1');
  t.equal((await c.next()).toString(), 'q1');
  t.match(await ended, { end: 'responses-done', datagramsIn: 1, datagramsOut: 1 });
  t.equal(listener.activeCount, 0);
  t.equal(member.active, 0);
  const second = nextEvent(listener, 'session-end');
  c.send('q2');
  t.equal((await c.next()).toString(), 'q2', 'the next datagram opens a new session');
  t.match(await second, { end: 'responses-done', datagramsIn: 1 });
});

t.test('responsesPerSession counts per client datagram, as NGINX proxy_responses', async (t) => {
  // A member that answers only once it holds two datagrams: the session must wait for both replies.
  const member = createSocket('udp4');
  const held: RemoteInfo[] = [];
  const msgs: Buffer[] = [];
  member.on('message', (msg, rinfo) => {
    held.push(rinfo);
    msgs.push(msg);
    if (held.length === 2) held.forEach((r, i) => member.send(msgs[i]!, r.port, r.address));
  });
  await new Promise<void>((resolve) => member.bind(0, '127.0.0.1', resolve));
  t.teardown(() => member.close());
  const pool = udpPool([udpMember({ host: '127.0.0.1', port: member.address().port })]);
  const listener = await startUdpListener(t, udpServiceConfig({ responsesPerSession: 1 }), pool);
  const c = await clientFor(t, listener);
  const records: SessionRecord[] = [];
  listener.on('session-end', (r) => records.push(r));
  c.send('a');
  c.send('b');
  t.same([(await c.next()).toString(), (await c.next()).toString()].sort(), ['a', 'b'], 'both replies reach the client');
  await waitUntil(() => records.length === 1);
  t.match(records[0], { end: 'responses-done', datagramsIn: 2, datagramsOut: 2 });
});

t.test('a reload that sets responsesPerSession applies to open sessions', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const config = udpServiceConfig();
  const listener = await startUdpListener(t, config, udpPool([udpMember(b)]));
  const c = await clientFor(t, listener);
  c.send('q1');
  t.equal((await c.next()).toString(), 'q1');
  t.equal(listener.activeCount, 1, 'unlimited replies: the session stays');
  listener.updateConfig({ ...config, responsesPerSession: 1 });
  const ended = nextEvent(listener, 'session-end');
  c.send('q2');
  t.equal((await c.next()).toString(), 'q2');
  t.match(await ended, { end: 'responses-done', datagramsIn: 2, datagramsOut: 2 });
  t.equal(listener.activeCount, 0);
});

t.test('a 64 KiB datagram passes intact both ways', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([udpMember(b)]));
  const c = await clientFor(t, listener);
  const big = Buffer.alloc(65_507);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
  c.send(big);
  const got = await c.next();
  t.equal(got.length, big.length);
  t.ok(got.equals(big), 'same bytes');
});

t.test('IPv6: a listener and members on ::1', async (t) => {
  const b = await backendFor(t, { mode: 'echo', host: '::1' });
  const member = udpMember(b);
  const listener = await startUdpListener(t, udpServiceConfig({ listen: { host: '::1', port: 0 } }), udpPool([member]));
  t.equal(listener.address().family, 'IPv6');
  const c = await clientFor(t, listener);
  c.send('over v6');
  t.equal((await c.next()).toString(), 'over v6');
  const ended = nextEvent(listener, 'session-end');
  listener.closeAll('shutdown');
  t.match(await ended, { client: `[::1]:${c.port}`, member: `[::1]:${b.port}` });
});

t.test('a dual-stack [::] listener serves IPv4 clients, named unmapped', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const listener = await startUdpListener(t, udpServiceConfig({ listen: { host: '::', port: 0 } }), udpPool([udpMember(b)]));
  const c = await udpClient({ host: '127.0.0.1', port: listener.address().port });
  t.teardown(() => c.close());
  c.send('v4 to ::');
  t.equal((await c.next()).toString(), 'v4 to ::');
  const ended = nextEvent(listener, 'session-end');
  listener.closeAll('shutdown');
  t.equal((await ended).client, `127.0.0.1:${c.port}`);
});

t.test('too large for the member family: dropped as too-large', async (t) => {
  // An IPv6 client may send 65,527 bytes; an IPv4 member cannot take more than 65,507.
  const b = await backendFor(t, { mode: 'echo' });
  const config = udpServiceConfig({ listen: { host: '::1', port: 0 } });
  const listener = await startUdpListener(t, config, udpPool([udpMember(b)]));
  const c = await clientFor(t, listener);
  const dropped = nextEvent(listener, 'drop');
  c.send(Buffer.alloc(65_527, 1));
  t.same(await dropped, { reason: 'too-large', bytes: 65_527 });
  c.send('small');
  t.equal((await c.next()).toString(), 'small', 'the session goes on');
});

t.test('allow/deny: refused clients are dropped; a reload that denies a client ends its session', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const config = udpServiceConfig({ listen: { host: '::1', port: 0 }, deny: ['::1/128'] });
  const listener = await startUdpListener(t, config, udpPool([udpMember(b)]));
  const c = await clientFor(t, listener);
  const dropped = nextEvent(listener, 'drop');
  c.send('let me in');
  t.same(await dropped, { reason: 'refused-acl', bytes: 9 });
  listener.updateConfig({ ...config, deny: [] });
  c.send('now?');
  t.equal((await c.next()).toString(), 'now?');
  const ended = nextEvent(listener, 'session-end');
  listener.updateConfig({ ...config, allow: ['10.0.0.0/8'], deny: [] });
  t.equal((await ended).end, 'refused-acl');
  t.equal(listener.activeCount, 0);
});

t.test('no member: dropped as no-member, no session', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const member = udpMember(b);
  member.setFlag('adminMaint', true, { source: 'admin', detail: 'test' });
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([member]));
  const c = await clientFor(t, listener);
  const dropped = nextEvent(listener, 'drop');
  c.send('anyone?');
  t.same(await dropped, { reason: 'no-member', bytes: 7 });
  t.equal(listener.activeCount, 0);
});

t.test('stopAccepting: new clients are refused at once, open sessions go on until closeAll', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([udpMember(b)]));
  const port = listener.address().port;
  const c1 = await clientFor(t, listener);
  const c2 = await clientFor(t, listener);
  c1.send('before');
  await c1.next();
  await listener.stopAccepting();
  c2.send('late');
  await t.rejects(c2.next(200), 'a new client is not served');
  c1.send('still here');
  t.equal((await c1.next()).toString(), 'still here', 'an open session is still served, from the same address');
  const ended = nextEvent(listener, 'session-end');
  listener.closeAll('shutdown');
  t.equal((await ended).end, 'shutdown');
  // With the last session gone the socket closes: the port can be bound again.
  await waitUntil(() => {
    try {
      listener.address();
      return false;
    } catch {
      return true;
    }
  });
  const again = new UdpListener(udpServiceConfig({ listen: { host: '127.0.0.1', port } }), udpPool([udpMember(b)]));
  await again.listen();
  await again.stopAccepting();
});

t.test('stopAccepting with no sessions closes at once; listen errors are clear', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const first = new UdpListener(udpServiceConfig(), udpPool([udpMember(b)]));
  await first.listen();
  const taken = udpServiceConfig({ listen: { host: '127.0.0.1', port: first.address().port } });
  await t.rejects(new UdpListener(taken, udpPool([])).listen(), { code: 'SWY_ERR_LISTEN' });
  await first.stopAccepting();
  t.equal(first.activeCount, 0);
});

t.test('a host name to listen on is resolved once', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const config = udpServiceConfig({ listen: { host: 'localhost', port: 0 } });
  const listener = await startUdpListener(t, config, udpPool([udpMember(b)]));
  const c = await clientFor(t, listener);
  c.send('by name');
  t.equal((await c.next()).toString(), 'by name');
});

t.test('maglev: two listener instances send each client to the same member', async (t) => {
  const backends = await Promise.all(['A', 'B', 'C'].map((name) => backendFor(t, { name, mode: 'tag' })));
  const options = { balance: 'maglev', hashKey: 'sourceIpPort' } as const;
  // Two instances with their own Member objects, as two balancer processes would have.
  const one = await startUdpListener(t, udpServiceConfig(), udpPool(backends.map(udpMember), options));
  const two = await startUdpListener(t, udpServiceConfig(), udpPool(backends.map(udpMember), options));
  const clients = await Promise.all(Array.from({ length: 12 }, () => clientFor(t, one)));
  const served = new Set<string>();
  for (const c of clients) {
    c.send('via one');
    const a = (await c.next()).toString().split('|')[0]!;
    c.socket.send('via two', two.address().port, '127.0.0.1');
    const b = (await c.next()).toString().split('|')[0]!;
    t.equal(a, b, `client port ${c.port}: same member on both instances`);
    served.add(a);
  }
  t.ok(served.size > 1, 'clients spread over members by address and port');
});

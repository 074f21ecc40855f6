/**
 * Relaying: bytes both ways, half-close in both orders, resets, IPv6,
 * closing connections from outside (members, closeAll), stopAccepting,
 * and the members' live counters coming back to zero.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import t from 'tap';
import { echoServer, silentServer, startBackend } from '../helpers/backends.js';
import { closed, readAll, readBytes, startProxy } from '../helpers/tcp-proxy.js';

t.setTimeout(30_000);

t.test('relays bytes both ways and records the session', async (t) => {
  const cases = [
    { name: 'a few bytes', data: Buffer.from('hello, member') },
    { name: '4 MiB', data: randomBytes(4 * 1024 * 1024) },
    { name: 'nothing', data: Buffer.alloc(0) },
  ];
  const backend = await echoServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint]);
  const member = proxy.members[0]!;
  let bytes = 0;
  for (const [i, c] of cases.entries()) {
    const client = await proxy.connect();
    const port = client.localPort;
    const reply = readAll(client);
    client.end(c.data);
    t.ok((await reply).equals(c.data), `${c.name}: the echo comes back whole`);
    const [record] = (await proxy.waitForRecords(i + 1)).slice(i);
    bytes += c.data.length;
    t.match(
      record,
      {
        service: 'test',
        protocol: 'tcp',
        client: `127.0.0.1:${port}`,
        member: backend.address,
        bytesIn: c.data.length,
        bytesOut: c.data.length,
        end: 'client-closed',
        retries: 0,
      },
      `${c.name}: session record`,
    );
    t.notOk(record!.error, `${c.name}: no error`);
  }
  t.equal(member.active, 0, 'member.active back to 0');
  t.equal(member.attachments.size, 0, 'no attachments left');
  t.equal(member.bytesIn, bytes, 'member bytes in');
  t.equal(member.bytesOut, bytes, 'member bytes out');
  t.equal(proxy.listener.activeCount, 0, 'no sessions left');
  t.same(
    proxy.results.map((r) => [r.member.id, r.ok]),
    cases.map(() => [backend.address, true]),
    'one successful connect-result per connection',
  );
  await backend.waitForIdle();
});

t.test('half-close: a client that ends first still receives the whole reply', async (t) => {
  // Replies only after the client's FIN: the reply must travel back through a half-closed proxy.
  const backend = await startBackend((socket) => {
    let n = 0;
    socket.on('data', (c: Buffer) => (n += c.length));
    socket.on('end', () => {
      setTimeout(() => socket.end(`got ${n} bytes`), 50);
    });
  });
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint]);
  const client = await proxy.connect();
  const reply = readAll(client);
  client.end(Buffer.alloc(100_000, 'a'));
  t.equal((await reply).toString(), 'got 100000 bytes');
  const [record] = await proxy.waitForRecords(1);
  t.match(record, { end: 'client-closed', bytesIn: 100_000, bytesOut: 16 });
});

t.test('half-close: a member that ends first still receives what the client goes on sending', async (t) => {
  const backend = await startBackend((socket) => {
    socket.end('bye\n');
    socket.on('end', () => socket.destroy());
  });
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint]);
  const client = await proxy.connect();
  t.equal((await readAll(client)).toString(), 'bye\n', 'the client sees the reply and the FIN');
  client.write('still ');
  client.end('talking');
  t.equal((await backend.waitForBytes(0, 13)).toString(), 'still talking', 'the member gets the rest');
  const [record] = await proxy.waitForRecords(1);
  t.match(record, { end: 'member-closed', bytesIn: 13, bytesOut: 4 });
  await closed(client);
});

t.test('a reset on either side closes both and is recorded', async (t) => {
  const cases = [
    { name: 'client resets', side: 'client', end: 'client-closed', error: /client: .*ECONNRESET|client: .*EPIPE/ },
    { name: 'member resets', side: 'member', end: 'member-closed', error: /member: .*(ECONNRESET|EPIPE)/ },
  ] as const;
  for (const c of cases) {
    const backend = await echoServer();
    t.teardown(() => backend.close());
    const proxy = await startProxy(t, [backend.endpoint]);
    const client = await proxy.connect();
    client.write('ping');
    await readBytes(client, 4);
    if (c.side === 'client') client.resetAndDestroy();
    else backend.sockets[0]!.resetAndDestroy();
    const [record] = await proxy.waitForRecords(1);
    t.equal(record!.end, c.end, `${c.name}: end reason`);
    if (c.side === 'member') {
      await closed(client);
      t.ok(true, `${c.name}: the client is closed too`);
    } else {
      await backend.waitForIdle();
      t.ok(true, `${c.name}: the member connection is closed too`);
    }
    t.match(record!.error ?? '', c.error, `${c.name}: error text`);
    t.equal(proxy.members[0]!.active, 0, `${c.name}: member.active back to 0`);
  }
});

t.test('listens on IPv6 (::1) and relays to an IPv6 member', async (t) => {
  const backend = await echoServer({ host: '::1' });
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint], { listen: { host: '::1', port: 0 } });
  t.equal(proxy.listener.address().family, 'IPv6');
  const client = await proxy.connect();
  const port = client.localPort;
  const reply = readAll(client);
  client.end('over six');
  t.equal((await reply).toString(), 'over six');
  const [record] = await proxy.waitForRecords(1);
  t.match(record, { client: `[::1]:${port}`, member: backend.address, end: 'client-closed' });
});

t.test('connections closed from outside carry the reason given', async (t) => {
  const cases = [
    { reason: 'member-down', end: 'member-down', error: undefined },
    { reason: 'drained', end: 'drained', error: undefined },
    { reason: 'failback', end: 'failback', error: undefined },
    { reason: 'something else', end: 'error', error: 'something else' },
  ];
  const backend = await silentServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint]);
  const member = proxy.members[0]!;
  for (const [i, c] of cases.entries()) {
    const client = await proxy.connect();
    client.write('x');
    await backend.waitForBytes(i, 1);
    t.equal(member.attachments.size, 1, `${c.reason}: the connection is attached to its member`);
    member.closeAll(c.reason);
    const record = (await proxy.waitForRecords(i + 1))[i]!;
    t.equal(record.end, c.end, `${c.reason}: end reason`);
    t.equal(record.error, c.error, `${c.reason}: error text`);
    await closed(client);
    t.equal(member.active, 0, `${c.reason}: member.active back to 0`);
  }
  await backend.waitForPeersGone();
});

t.test('closeAll ends every open connection with its reason', async (t) => {
  const backend = await silentServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint]);
  const clients = await Promise.all([1, 2, 3].map(() => proxy.connect()));
  for (const c of clients) c.write('hi');
  await backend.waitForAccepted(3);
  for (let i = 0; i < 3; i++) await backend.waitForBytes(i, 2);
  t.equal(proxy.listener.activeCount, 3);
  proxy.listener.closeAll('shutdown');
  const records = await proxy.waitForRecords(3);
  t.same(
    records.map((r) => r.end),
    ['shutdown', 'shutdown', 'shutdown'],
  );
  await Promise.all(clients.map((c) => closed(c)));
  await backend.waitForPeersGone();
  t.equal(proxy.listener.activeCount, 0);
  t.equal(proxy.members[0]!.active, 0);
});

t.test('stopAccepting closes the listening socket; open connections go on', async (t) => {
  const backend = await echoServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint]);
  const client = await proxy.connect();
  client.write('before ');
  await readBytes(client, 7);
  await proxy.listener.stopAccepting();
  const refused = await new Promise<string>((resolve) => {
    const s = connect(proxy.endpoint);
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  t.equal(refused, 'ECONNREFUSED', 'new connections are refused');
  const reply = readAll(client);
  client.end('after');
  t.equal((await reply).toString(), 'after', 'the open connection still relays');
  await proxy.waitForRecords(1);
  await proxy.listener.stopAccepting();
  t.pass('stopAccepting twice is harmless');
});

t.test('updateConfig applies to new connections; open ones keep theirs', async (t) => {
  const backend = await echoServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint]);
  const open = await proxy.connect();
  open.write('a');
  await readBytes(open, 1);
  proxy.listener.updateConfig({ ...proxy.config, deny: ['127.0.0.0/8'] });
  const refused = await proxy.connect();
  await closed(refused);
  const [record] = await proxy.waitForRecords(1);
  t.equal(record!.end, 'refused-acl', 'a new connection meets the new ACL');
  const reply = readAll(open);
  open.end('b');
  t.equal((await reply).toString(), 'b', 'the open connection goes on');
});

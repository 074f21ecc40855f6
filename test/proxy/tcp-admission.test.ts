/**
 * Admission: allow/deny ACLs (IPv4, IPv6, IPv4-mapped on a dual-stack
 * listener), maxConnections, and PROXY headers from the client side
 * (valid, split, LOCAL, malformed, oversized, slow).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ServiceConfig } from '../../src/config/types.js';
import { buildProxyV1, buildProxyV2, parseProxyHeader } from '../../src/proxy/proxy-protocol.js';
import { echoServer, silentServer, sinkServer } from '../helpers/backends.js';
import { closed, readAll, readBytes, startProxy } from '../helpers/tcp-proxy.js';

t.setTimeout(60_000);

t.test('allow and deny lists, deny wins', async (t) => {
  const cases: { name: string; listen: string; client: string; acl: Partial<ServiceConfig>; admitted: boolean }[] = [
    { name: 'no rules', listen: '127.0.0.1', client: '127.0.0.1', acl: {}, admitted: true },
    { name: 'allowed host', listen: '127.0.0.1', client: '127.0.0.1', acl: { allow: ['127.0.0.1/32'] }, admitted: true },
    { name: 'not in allow', listen: '127.0.0.1', client: '127.0.0.1', acl: { allow: ['10.0.0.0/8'] }, admitted: false },
    { name: 'denied', listen: '127.0.0.1', client: '127.0.0.1', acl: { deny: ['127.0.0.0/8'] }, admitted: false },
    {
      name: 'deny wins over allow',
      listen: '127.0.0.1',
      client: '127.0.0.1',
      acl: { allow: ['127.0.0.0/8'], deny: ['127.0.0.1'] },
      admitted: false,
    },
    { name: 'IPv6 allowed', listen: '::1', client: '::1', acl: { allow: ['::1/128'] }, admitted: true },
    { name: 'IPv6 not in allow', listen: '::1', client: '::1', acl: { allow: ['fd00::/8'] }, admitted: false },
    { name: '[::], IPv4 client, IPv4 allow', listen: '::', client: '127.0.0.1', acl: { allow: ['127.0.0.1/32'] }, admitted: true },
    { name: '[::], IPv4 client, IPv4 deny', listen: '::', client: '127.0.0.1', acl: { deny: ['127.0.0.0/8'] }, admitted: false },
    {
      name: '[::], IPv4 client, mapped allow',
      listen: '::',
      client: '127.0.0.1',
      acl: { allow: ['::ffff:127.0.0.0/104'] },
      admitted: true,
    },
    { name: '[::], IPv4 client, IPv6 allow', listen: '::', client: '127.0.0.1', acl: { allow: ['fd00::/8'] }, admitted: false },
    { name: '[::], IPv4 client, ::/0 allow', listen: '::', client: '127.0.0.1', acl: { allow: ['::/0'] }, admitted: true },
    { name: '[::], IPv6 client, IPv6 allow', listen: '::', client: '::1', acl: { allow: ['::1'] }, admitted: true },
  ];
  const backend = await echoServer();
  t.teardown(() => backend.close());
  let accepted = 0;
  for (const c of cases) {
    const proxy = await startProxy(t, [backend.endpoint], { ...c.acl, listen: { host: c.listen, port: 0 } });
    const client = await proxy.connect({ host: c.client });
    const port = client.localPort;
    const reply = readAll(client);
    client.end('knock');
    const got = (await reply).toString();
    const [record] = await proxy.waitForRecords(1);
    const clientText = c.client.includes(':') ? `[${c.client}]:${port}` : `${c.client}:${port}`;
    if (c.admitted) {
      accepted++;
      t.equal(got, 'knock', `${c.name}: admitted`);
      t.match(record, { end: 'client-closed', client: clientText }, `${c.name}: record`);
    } else {
      t.equal(got, '', `${c.name}: closed without a byte`);
      t.match(record, { end: 'refused-acl', client: clientText, member: undefined, bytesIn: 0 }, `${c.name}: record`);
    }
    t.equal(backend.accepted, accepted, `${c.name}: the member saw only admitted clients`);
  }
});

t.test('maxConnections: connections past it are closed at once and counted', async (t) => {
  const backend = await sinkServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint], { maxConnections: 2 });
  const a = await proxy.connect();
  const b = await proxy.connect();
  a.write('a');
  b.write('b');
  await backend.waitForAccepted(2);
  const c = await proxy.connect();
  await closed(c);
  const [refused] = await proxy.waitForRecords(1);
  t.match(refused, { end: 'refused-max-connections', member: undefined });
  t.equal(proxy.listener.activeCount, 2, 'the two admitted connections go on');
  a.destroy();
  await proxy.waitForRecords(2);
  const d = await proxy.connect();
  d.write('d');
  await backend.waitForAccepted(3);
  t.pass('room again once one closed');
  t.equal(proxy.listener.activeCount, 2);
});

t.test("the listen queue is maxConnections long, as HAProxy's backlog is maxconn; the kernel caps it", async (t) => {
  const backend = await sinkServer();
  t.teardown(() => backend.close());
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  // A listening socket's Send-Q in ss is its backlog.
  const backlog = (port: number) => Number(execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim().split(/\s+/)[2]);
  for (const [maxConnections, expected] of [
    [100, 100],
    [2000, Math.min(2000, somaxconn)],
    [0, somaxconn],
  ] as const) {
    const proxy = await startProxy(t, [backend.endpoint], { maxConnections });
    t.equal(backlog(proxy.endpoint.port), expected, `maxConnections ${maxConnections}: backlog ${expected}`);
  }
});

t.test('PROXY header from the client side', async (t) => {
  const v1 = buildProxyV1({ source: { address: '203.0.113.7', port: 4242 }, destination: { address: '198.51.100.1', port: 443 } });
  const v2 = buildProxyV2({
    source: { address: '2001:db8::7', port: 5353 },
    destination: { address: '2001:db8::1', port: 6432 },
  });
  const local = buildProxyV2(undefined);
  const cases: {
    name: string;
    /** What the client writes, in separate writes. */
    writes: Buffer[];
    end: string;
    /** The client address the record carries (`real` = the socket's own). */
    client?: string;
    error?: RegExp;
  }[] = [
    { name: 'v1 TCP4', writes: [Buffer.concat([v1, Buffer.from('hello')])], end: 'client-closed', client: '203.0.113.7:4242' },
    { name: 'v2 TCP6', writes: [Buffer.concat([v2, Buffer.from('hello')])], end: 'client-closed', client: '[2001:db8::7]:5353' },
    { name: 'v2 split in bytes', writes: [...[...v2].map((b) => Buffer.from([b])), Buffer.from('hello')], end: 'client-closed', client: '[2001:db8::7]:5353' },
    { name: 'v2 LOCAL', writes: [Buffer.concat([local, Buffer.from('hello')])], end: 'client-closed', client: 'real' },
    { name: 'v1 UNKNOWN', writes: [Buffer.from('PROXY UNKNOWN\r\nhello')], end: 'client-closed', client: 'real' },
    { name: 'no header', writes: [Buffer.from('GET / HTTP/1.1\r\n\r\n')], end: 'proxy-header', error: /no PROXY signature/ },
    { name: 'v1 bad address', writes: [Buffer.from('PROXY TCP4 1.2.3 4.5.6.7 1 2\r\nhello')], end: 'proxy-header', error: /not TCP4 addresses/ },
    { name: 'v1 oversized', writes: [Buffer.from('PROXY TCP4 ' + '1'.repeat(200))], end: 'proxy-header', error: /longer than 107/ },
    {
      name: 'v2 oversized',
      writes: [Buffer.concat([v2.subarray(0, 14), Buffer.from([0xea, 0x60])])],
      end: 'proxy-header',
      error: /over the 4096-byte limit/,
    },
    { name: 'slow header', writes: [Buffer.from('PROXY TCP4 ')], end: 'proxy-header', error: /in time/ },
  ];
  const backend = await echoServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint], { acceptProxyProtocol: true }, { proxyHeaderTimeout: 1000 });
  let accepted = 0;
  for (const [i, c] of cases.entries()) {
    const client = await proxy.connect();
    const real = `127.0.0.1:${client.localPort}`;
    const reply = readAll(client);
    for (const w of c.writes) {
      client.write(w);
      // Separate writes arrive as separate reads only if they leave one at a time.
      if (c.writes.length > 1) await new Promise((r) => setImmediate(r));
    }
    if (c.end === 'client-closed') {
      t.equal((await readBytes(client, 5)).toString(), 'hello', `${c.name}: relayed without the header`);
      client.end();
      accepted++;
    }
    await reply;
    const record = (await proxy.waitForRecords(i + 1))[i]!;
    t.equal(record.end, c.end, `${c.name}: end reason`);
    if (c.client !== undefined) t.equal(record.client, c.client === 'real' ? real : c.client, `${c.name}: client address`);
    if (c.error) t.match(record.error, c.error, `${c.name}: error`);
    else t.notOk(record.error, `${c.name}: no error`);
    t.equal(backend.accepted, accepted, `${c.name}: the member saw only clients with good headers`);
  }
});

t.test('a client that closes before sending its header is a plain close', async (t) => {
  const backend = await echoServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint], { acceptProxyProtocol: true });
  const client = await proxy.connect();
  client.end();
  const [record] = await proxy.waitForRecords(1);
  t.match(record, { end: 'client-closed', member: undefined });
  t.equal(backend.accepted, 0);
});

t.test('the address a PROXY header names is passed on in the outgoing header', async (t) => {
  const backend = await silentServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint], { acceptProxyProtocol: true, sendProxyProtocol: 'v2' });
  const client = await proxy.connect();
  client.write(buildProxyV1({ source: { address: '203.0.113.7', port: 4242 }, destination: { address: '198.51.100.1', port: 443 } }));
  client.write('data');
  const got = await backend.waitForBytes(0, 28 + 4);
  const parsed = parseProxyHeader(got);
  if (!parsed.done) throw new Error('incomplete header');
  t.same(parsed.header.source, { address: '203.0.113.7', port: 4242 });
  t.same(parsed.header.destination, { address: '198.51.100.1', port: 443 });
  t.equal(got.subarray(parsed.length).toString(), 'data');
});

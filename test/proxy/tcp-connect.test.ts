/**
 * Reaching a member: retries past refusing and blackholed members, the
 * connect-result events passive health sees, running out of members, client
 * bytes held while connecting, and the PROXY header sent to members.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import type { Endpoint } from '../../src/net/address.js';
import { parseProxyHeader } from '../../src/proxy/proxy-protocol.js';
import { blackhole, echoServer, refusingPort, silentServer, type Backend } from '../helpers/backends.js';
import { closed, readAll, startProxy } from '../helpers/tcp-proxy.js';

t.setTimeout(60_000);

t.test('tries the next member when one fails to connect', async (t) => {
  const echo = await echoServer();
  const refusing = await refusingPort(t);
  const refusing2 = await refusingPort(t);
  const hole = await blackhole();
  t.teardown(async () => {
    await echo.close();
    await hole.close();
  });
  const cases: {
    name: string;
    members: Endpoint[];
    retries: number;
    results: [Endpoint, boolean, string | undefined][];
    end: string;
    served: boolean;
  }[] = [
    {
      name: 'first refuses, second serves',
      members: [refusing, echo.endpoint],
      retries: 2,
      results: [
        [refusing, false, 'refused'],
        [echo.endpoint, true, undefined],
      ],
      end: 'client-closed',
      served: true,
    },
    {
      name: 'two refuse, third serves',
      members: [refusing, refusing2, echo.endpoint],
      retries: 2,
      results: [
        [refusing, false, 'refused'],
        [refusing2, false, 'refused'],
        [echo.endpoint, true, undefined],
      ],
      end: 'client-closed',
      served: true,
    },
    {
      name: 'retries run out before the good member',
      members: [refusing, refusing2, echo.endpoint],
      retries: 1,
      results: [
        [refusing, false, 'refused'],
        [refusing2, false, 'refused'],
      ],
      end: 'connect-failed',
      served: false,
    },
    {
      name: 'first is a blackhole (connect timeout), second serves',
      members: [hole.endpoint, echo.endpoint],
      retries: 2,
      results: [
        [hole.endpoint, false, 'timeout'],
        [echo.endpoint, true, undefined],
      ],
      end: 'client-closed',
      served: true,
    },
    {
      name: 'the only member refuses',
      members: [refusing],
      retries: 2,
      results: [[refusing, false, 'refused']],
      end: 'connect-failed',
      served: false,
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const proxy = await startProxy(t, c.members, { retries: c.retries, connectTimeout: 300 });
      const client = await proxy.connect();
      const data = randomBytes(200_000);
      // Written at once: the bytes wait in the proxy while it looks for a member.
      const reply = readAll(client);
      client.end(data);
      const got = await reply;
      const [record] = await proxy.waitForRecords(1);
      const id = (e: Endpoint) => `${e.host}:${e.port}`;
      t.same(
        proxy.results.map((r) => [r.member.id, r.ok, r.error]),
        c.results.map(([e, ok, err]) => [id(e), ok, err]),
        'connect-result events, in order',
      );
      t.equal(record!.end, c.end, 'end reason');
      t.equal(record!.retries, c.results.length - 1, 'retries recorded');
      t.equal(record!.member, id(c.results.at(-1)![0]), 'the last member tried is recorded');
      if (c.served) {
        t.ok(got.equals(data), 'the client gets its bytes back, whole and in order');
        t.notOk(record!.error, 'no error');
      } else {
        t.equal(got.length, 0, 'the client gets nothing');
        t.match(record!.error, /ECONNREFUSED/, 'the last connect error is recorded');
      }
      for (const m of proxy.members) t.equal(m.active, 0, `${m.id}: active back to 0`);
      for (const r of proxy.results.filter((r) => !r.ok && r.error === 'timeout')) {
        t.ok(r.durationMs >= 250, 'the timeout took connectTimeout');
      }
    });
  }
});

t.test('no member to pick: the client is closed at once', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const cases = [
    { name: 'no members', members: [] as Endpoint[], prepare: () => {} },
    {
      name: 'every member down',
      members: [echo.endpoint],
      prepare: (p: Awaited<ReturnType<typeof startProxy>>) =>
        p.members[0]!.setFlag('failedCheck', true, { source: 'check', detail: 'test' }),
    },
  ];
  for (const c of cases) {
    const proxy = await startProxy(t, c.members);
    c.prepare(proxy);
    const client = await proxy.connect();
    await closed(client);
    const [record] = await proxy.waitForRecords(1);
    t.match(record, { end: 'no-member', member: undefined, retries: 0 }, c.name);
    t.equal(proxy.results.length, 0, `${c.name}: no connect attempt`);
  }
  t.equal(echo.accepted, 0);
});

t.test('a client that leaves while the proxy connects ends the attempt', async (t) => {
  const hole = await blackhole();
  t.teardown(() => hole.close());
  const proxy = await startProxy(t, [hole.endpoint], { connectTimeout: 5000 });
  const client = await proxy.connect();
  client.write('hello?');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(proxy.members[0]!.active, 1, 'the attempt counts on the member');
  client.resetAndDestroy();
  const [record] = await proxy.waitForRecords(1);
  t.match(record, { end: 'client-closed', member: hole.address });
  t.equal(proxy.members[0]!.active, 0, 'active back to 0');
  t.equal(proxy.results.length, 0, 'an abandoned attempt is not a member failure');
});

t.test('sends a PROXY header to members, with the client and listener addresses', async (t) => {
  const cases = [
    { name: 'v1 over IPv4', version: 'v1', listen: '127.0.0.1', client: '127.0.0.1', src: '127.0.0.1', dst: '127.0.0.1' },
    { name: 'v2 over IPv4', version: 'v2', listen: '127.0.0.1', client: '127.0.0.1', src: '127.0.0.1', dst: '127.0.0.1' },
    { name: 'v1 over IPv6', version: 'v1', listen: '::1', client: '::1', src: '::1', dst: '::1' },
    { name: 'v2 over IPv6', version: 'v2', listen: '::1', client: '::1', src: '::1', dst: '::1' },
    { name: 'v2, IPv4 client on [::]', version: 'v2', listen: '::', client: '127.0.0.1', src: '127.0.0.1', dst: '127.0.0.1' },
  ] as const;
  const backend: Backend = await silentServer();
  t.teardown(() => backend.close());
  for (const [i, c] of cases.entries()) {
    const proxy = await startProxy(t, [backend.endpoint], {
      sendProxyProtocol: c.version,
      listen: { host: c.listen, port: 0 },
    });
    const client = await proxy.connect({ host: c.client });
    client.write('payload');
    const got = await backend.waitForBytes(i, 8);
    const parsed = parseProxyHeader(got);
    if (!parsed.done) throw new Error('incomplete header');
    t.equal(parsed.header.version, c.version === 'v1' ? 1 : 2, `${c.name}: version`);
    t.same(
      [parsed.header.source, parsed.header.destination],
      [
        { address: c.src, port: client.localPort },
        { address: c.dst, port: proxy.endpoint.port },
      ],
      `${c.name}: addresses`,
    );
    const rest = await backend.waitForBytes(i, parsed.length + 7);
    t.equal(rest.subarray(parsed.length).toString(), 'payload', `${c.name}: the client bytes follow`);
    client.destroy();
  }
});

t.test('held client bytes are bounded and delivered in order once a member connects', async (t) => {
  const echo = await echoServer();
  const hole = await blackhole();
  t.teardown(async () => {
    await echo.close();
    await hole.close();
  });
  const proxy = await startProxy(t, [hole.endpoint, echo.endpoint], { connectTimeout: 800 });
  const client = await proxy.connect();
  // More than the kernel's socket buffers hold, so a proxy that kept reading would have drained the client.
  const data = randomBytes(32 * 1024 * 1024);
  const reply = readAll(client, 20_000);
  // In 64 KiB writes, so the client's queue shrinks by what the kernel takes.
  for (let at = 0; at < data.length; at += 65536) client.write(data.subarray(at, at + 65536));
  client.end();
  const [timeout] = await proxy.waitForResults(1, 3000);
  t.equal(timeout!.error, 'timeout');
  t.ok(client.writableLength > 8 * 1024 * 1024, `the proxy stopped reading while connecting (${client.writableLength} bytes still queued at the client)`);
  t.ok((await reply).equals(data), 'all 32 MiB echoed in order');
});

/**
 * Time on an open connection: idleTimeout (idle both ways), firstByteTimeout
 * reporting a silent member, and replayOnSilence moving a connection from a
 * silent member to a good one.
 */
import t from 'tap';
import { blackhole, delayedEchoServer, echoServer, greetingServer, refusingPort, silentServer } from '../helpers/backends.js';
import { closed, readAll, readBytes, startProxy } from '../helpers/tcp-proxy.js';

t.setTimeout(60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('idleTimeout closes a connection idle both ways', async (t) => {
  const backend = await echoServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint], { idleTimeout: 300 });
  const client = await proxy.connect();
  // The last activity the proxy sees is after this instant, so the close can be no sooner than 300ms after it.
  const sentAt = Date.now();
  client.write('ping');
  await readBytes(client, 4);
  await closed(client, 3000);
  const [record] = await proxy.waitForRecords(1);
  t.match(record, { end: 'idle-timeout', bytesIn: 4, bytesOut: 4 });
  t.ok(Date.now() - sentAt >= 295, 'not before the timeout');
  await backend.waitForPeersGone();
  t.equal(proxy.members[0]!.active, 0);
});

t.test('traffic in one direction keeps a connection from idling out', async (t) => {
  const backend = await silentServer();
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint], { idleTimeout: 800 });
  const client = await proxy.connect();
  // 1.2 s of client bytes every 100 ms, longer than the idle timeout: still open.
  for (let i = 0; i < 12; i++) {
    client.write('.');
    await sleep(100);
  }
  await backend.waitForBytes(0, 12);
  t.equal(proxy.records.length, 0, 'still open while the client talks');
  await closed(client, 3000);
  const [record] = await proxy.waitForRecords(1);
  t.match(record, { end: 'idle-timeout', bytesIn: 12, bytesOut: 0 });
});

t.test('firstByteTimeout reports a silent member as a failed connect', async (t) => {
  const cases = [
    { name: 'silent member', start: silentServer, silent: true },
    { name: 'answering member', start: echoServer, silent: false },
    { name: 'member that greets first', start: () => greetingServer('220 ready\r\n'), silent: false },
  ];
  for (const c of cases) {
    const backend = await c.start();
    t.teardown(() => backend.close());
    const proxy = await startProxy(t, [backend.endpoint], { firstByteTimeout: 500 });
    const client = await proxy.connect();
    client.write('hello');
    await backend.waitForBytes(0, 5);
    if (c.silent) {
      const results = await proxy.waitForResults(2, 3000);
      t.match(
        results.map((r) => [r.member.id, r.ok, r.error]),
        [
          [backend.address, true, undefined],
          [backend.address, false, 'silent'],
        ],
        `${c.name}: connected, then silent`,
      );
      t.equal(proxy.listener.activeCount, 1, `${c.name}: the connection stays open`);
    } else {
      await readBytes(client, 5);
      await sleep(700);
      t.same(
        proxy.results.map((r) => r.ok),
        [true],
        `${c.name}: no silent report`,
      );
    }
    client.resetAndDestroy();
    await proxy.waitForRecords(1);
  }
});

t.test('firstByteTimeout counts from the client first bytes when they come after connect', async (t) => {
  // Connect at 0; the client speaks at ~1000 ms; the member answers 900 ms later (~1900 ms):
  // past 1500 ms from connect, within 1500 ms of the client's first bytes.
  const backend = await delayedEchoServer(900);
  t.teardown(() => backend.close());
  const proxy = await startProxy(t, [backend.endpoint], { firstByteTimeout: 1500 });
  const client = await proxy.connect();
  await proxy.waitForResults(1);
  await sleep(1000);
  client.write('late');
  t.equal((await readBytes(client, 4, 3000)).toString(), 'late');
  t.same(
    proxy.results.map((r) => r.ok),
    [true],
    'the member is not blamed for the client think time',
  );
});

t.test('replayOnSilence moves a connection from a silent member to a good one', async (t) => {
  const cases = [
    { name: 'client keeps its write side open', end: false },
    { name: 'client has already sent its FIN', end: true },
  ];
  for (const c of cases) {
    const silent = await silentServer();
    const echo = await echoServer();
    t.teardown(async () => {
      await silent.close();
      await echo.close();
    });
    // Long enough that the good member's echo always beats it, even on a busy machine.
    const proxy = await startProxy(t, [silent.endpoint, echo.endpoint], {
      firstByteTimeout: 400,
      replayOnSilence: true,
    });
    const client = await proxy.connect();
    const reply = c.end ? readAll(client) : readBytes(client, 11);
    client.write('hello ');
    await silent.waitForBytes(0, 6);
    if (c.end) client.end('world');
    else client.write('world');
    t.equal((await reply).toString(), 'hello world', `${c.name}: the good member answers the replayed bytes`);
    t.equal(silent.received(0).toString(), 'hello world', `${c.name}: the silent member had them first`);
    t.same(
      proxy.reroutes.map((r) => [r.from.id, r.to.id]),
      [[silent.address, echo.address]],
      `${c.name}: one reroute published`,
    );
    t.same(
      proxy.results.map((r) => [r.member.id, r.ok, r.error]),
      [
        [silent.address, true, undefined],
        [silent.address, false, 'silent'],
        [echo.address, true, undefined],
      ],
      `${c.name}: connect results`,
    );
    await silent.waitForPeersGone();
    const [silentMember, echoMember] = proxy.members;
    t.equal(silentMember!.active, 0, `${c.name}: the silent member lets go`);
    t.equal(silentMember!.attachments.size, 0, `${c.name}: and its attachment`);
    // With the FIN already passed on, the echo member ends too and the connection is done.
    if (!c.end) t.equal(echoMember!.active, 1, `${c.name}: the good member holds the connection`);
    client.end();
    const [record] = await proxy.waitForRecords(1);
    t.match(record, { member: echo.address, reroutes: 1, bytesIn: 11, bytesOut: 11, end: 'client-closed' }, `${c.name}: record`);
    t.equal(echoMember!.active, 0, `${c.name}: active back to 0`);
  }
});

t.test('replayOnSilence never makes things worse', async (t) => {
  await t.test('no other member: the connection waits on the slow one', async (t) => {
    const slow = await delayedEchoServer(600);
    t.teardown(() => slow.close());
    const proxy = await startProxy(t, [slow.endpoint], { firstByteTimeout: 200, replayOnSilence: true });
    const client = await proxy.connect();
    client.write('patience');
    t.equal((await readBytes(client, 8, 3000)).toString(), 'patience', 'the late answer arrives');
    t.same(
      proxy.results.map((r) => r.error),
      [undefined, 'silent'],
    );
    t.equal(proxy.reroutes.length, 0);
  });

  await t.test('bytes past replayBufferSize: no replay, the connection stays', async (t) => {
    const silent = await silentServer();
    const echo = await echoServer();
    t.teardown(async () => {
      await silent.close();
      await echo.close();
    });
    const proxy = await startProxy(t, [silent.endpoint, echo.endpoint], {
      firstByteTimeout: 200,
      replayOnSilence: true,
      replayBufferSize: 1024,
    });
    const client = await proxy.connect();
    client.write(Buffer.alloc(4096, 'z'));
    await silent.waitForBytes(0, 4096);
    const results = await proxy.waitForResults(2, 3000);
    t.equal(results[1]!.error, 'silent', 'still reported silent');
    await sleep(200);
    t.equal(proxy.reroutes.length, 0, 'not moved');
    t.equal(echo.accepted, 0, 'the other member never contacted');
    t.equal(proxy.listener.activeCount, 1, 'the connection stays');
  });

  await t.test('the other member refuses: the connection stays on the silent one', async (t) => {
    const slow = await delayedEchoServer(500);
    const refusing = await refusingPort(t);
    t.teardown(() => slow.close());
    const proxy = await startProxy(t, [slow.endpoint, refusing], { firstByteTimeout: 200, replayOnSilence: true });
    const client = await proxy.connect();
    client.write('still here');
    t.equal((await readBytes(client, 10, 3000)).toString(), 'still here');
    t.same(
      proxy.results.map((r) => [r.member.id, r.error]),
      [
        [slow.address, undefined],
        [slow.address, 'silent'],
        [`${refusing.host}:${refusing.port}`, 'refused'],
      ],
    );
    t.equal(proxy.reroutes.length, 0);
    t.equal(proxy.members[1]!.active, 0);
  });

  await t.test('the silent member answers while the move is under way: it stays', async (t) => {
    const slow = await delayedEchoServer(400);
    const hole = await blackhole();
    t.teardown(async () => {
      await slow.close();
      await hole.close();
    });
    // The move to the blackhole hangs until connectTimeout; the slow member answers first.
    const proxy = await startProxy(t, [slow.endpoint, hole.endpoint], {
      firstByteTimeout: 200,
      replayOnSilence: true,
      connectTimeout: 2000,
    });
    const client = await proxy.connect();
    client.write('mine');
    t.equal((await readBytes(client, 4, 3000)).toString(), 'mine');
    await sleep(100);
    t.equal(proxy.members[1]!.active, 0, 'the move was called off');
    t.equal(proxy.reroutes.length, 0);
    client.end();
    const [record] = await proxy.waitForRecords(1);
    t.match(record, { member: slow.address, end: 'client-closed' });
  });
});

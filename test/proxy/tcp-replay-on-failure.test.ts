// replayOnSilence also saves a connection whose member fails before answering:
// a reset, a close, or the member marked down or drained moves it to another
// member with the client's bytes replayed. Without it, the client sees the failure.
import t from 'tap';
import { echoServer, silentServer, startBackend } from '../helpers/backends.js';
import { readBytes, startProxy } from '../helpers/tcp-proxy.js';

t.setTimeout(30_000);

const failures = {
  'resets on the first bytes': () => startBackend((s) => s.once('data', () => s.resetAndDestroy())),
  'closes on the first bytes': () => startBackend((s) => s.once('data', () => s.end())),
};

for (const [how, start] of Object.entries(failures)) {
  t.test(`a member that ${how}: the connection moves and the bytes are replayed`, async (t) => {
    const bad = await start();
    const good = await echoServer();
    t.teardown(() => Promise.all([bad.close(), good.close()]));
    const proxy = await startProxy(t, [bad.endpoint, good.endpoint], {
      balance: 'first',
      firstByteTimeout: 2000,
      replayOnSilence: true,
    });
    const client = await proxy.connect();
    client.write('hello\n');
    t.equal((await readBytes(client, 6)).toString(), 'hello\n', 'the second member answered the replayed bytes');
    t.equal(proxy.reroutes.length, 1);
    t.equal(proxy.reroutes[0]!.from.id, bad.address);
    t.ok(proxy.results.some((r) => !r.ok && r.member.id === bad.address), 'the failing member is reported to passive health');
  });
}

t.test('a member marked down before answering: its stalled connections move instead of closing', async (t) => {
  const hung = await silentServer();
  const good = await echoServer();
  t.teardown(() => Promise.all([hung.close(), good.close()]));
  const proxy = await startProxy(t, [hung.endpoint, good.endpoint], {
    balance: 'first',
    firstByteTimeout: 10_000,
    replayOnSilence: true,
  });
  const client = await proxy.connect();
  client.write('ping\n');
  await hung.waitForBytes(0, 5);
  proxy.members[0]!.closeAll('member-down');
  t.equal((await readBytes(client, 5)).toString(), 'ping\n');
  t.equal(proxy.reroutes.length, 1);
});

t.test('without replayOnSilence a reset before the answer reaches the client', async (t) => {
  const bad = await failures['resets on the first bytes']();
  const good = await echoServer();
  t.teardown(() => Promise.all([bad.close(), good.close()]));
  const proxy = await startProxy(t, [bad.endpoint, good.endpoint], { balance: 'first' });
  const client = await proxy.connect();
  client.on('error', () => {});
  client.write('hello\n');
  const [record] = await proxy.waitForRecords(1);
  t.equal(record!.end, 'member-closed');
  t.equal(proxy.reroutes.length, 0);
});

t.test('marked down while a move on silence is connecting: that move takes the connection over', async (t) => {
  const hung = await silentServer();
  const good = await echoServer();
  t.teardown(() => Promise.all([hung.close(), good.close()]));
  const proxy = await startProxy(t, [hung.endpoint, good.endpoint], {
    balance: 'first',
    firstByteTimeout: 100,
    replayOnSilence: true,
  });
  // Right after the silence starts a move (the connect to the next member is under way), the member goes down.
  proxy.listener.on('connect-result', (r) => {
    if (r.error === 'silent') process.nextTick(() => r.member.closeAll('member-down'));
  });
  const client = await proxy.connect();
  client.write('ping\n');
  t.equal((await readBytes(client, 5)).toString(), 'ping\n', 'the replayed bytes were answered by the next member');
  t.equal(proxy.reroutes.length, 1, 'one move');
  t.equal(proxy.reroutes[0]!.to.id, good.address);
});

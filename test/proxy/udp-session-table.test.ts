import { createSocket, type Socket } from 'node:dgram';
import t from 'tap';
import { UdpSessionTable } from '../../src/proxy/udp-session-table.js';
import { backendFor, startUdpListener, udpMember, udpPool, udpServiceConfig } from '../helpers/udp-backends.js';

t.setTimeout(30_000);

const session = (clientAddress: string, clientPort: number) => ({ clientAddress, clientPort });

t.test('sessions are found by address and port, also when clients share a port', async (t) => {
  const table = new UdpSessionTable<ReturnType<typeof session>>();
  const a = session('127.0.0.1', 5060);
  const b = session('::ffff:10.0.0.2', 5060);
  const c = session('::1', 5060);
  const d = session('127.0.0.1', 5061);
  for (const s of [a, b, c, d]) table.add(s);
  t.equal(table.size, 4);
  t.equal(table.get('127.0.0.1', 5060), a);
  t.equal(table.get('::ffff:10.0.0.2', 5060), b);
  t.equal(table.get('::1', 5060), c);
  t.equal(table.get('127.0.0.1', 5061), d);
  t.equal(table.get('127.0.0.1', 5062), undefined, 'another port');
  t.equal(table.get('127.0.0.2', 5060), undefined, 'another address on a port in use');
  t.ok(table.has(b));
  t.notOk(table.has(session('::1', 5060)), 'an equal but other session is not in the table');
  t.same(new Set(table.values()), new Set([a, b, c, d]));

  t.ok(table.delete(a), 'the first client on the port leaves');
  t.notOk(table.delete(a), 'deleting twice reports it gone');
  t.equal(table.get('127.0.0.1', 5060), undefined);
  t.equal(table.get('::ffff:10.0.0.2', 5060), b, 'the others on that port are still found');
  t.equal(table.get('::1', 5060), c);
  const e = session('127.0.0.3', 5060);
  table.add(e);
  t.equal(table.get('127.0.0.3', 5060), e, 'a newcomer takes the freed slot');
  t.equal(table.get('::ffff:10.0.0.2', 5060), b);
  t.ok(table.delete(b));
  t.equal(table.get('::ffff:10.0.0.2', 5060), undefined);
  t.equal(table.size, 3);
});

t.test('deleting while iterating visits every session once', async (t) => {
  const table = new UdpSessionTable<ReturnType<typeof session>>();
  const all = [session('127.0.0.1', 1), session('::1', 1), session('127.0.0.1', 2), session('::1', 2), session('127.0.0.2', 1)];
  for (const s of all) table.add(s);
  const seen: unknown[] = [];
  for (const s of table.values()) {
    seen.push(s);
    table.delete(s);
  }
  t.equal(seen.length, all.length);
  t.same(new Set(seen), new Set(all));
  t.equal(table.size, 0);
});

function bindOn(socket: Socket, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve(socket.address().port);
    });
  });
}

function nextMessage(socket: Socket, ms = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply within ${ms}ms`)), ms);
    socket.once('message', (msg) => {
      clearTimeout(timer);
      resolve(msg.toString());
    });
  });
}

t.test('two clients on one port number, from ::1 and 127.0.0.1: two sessions, each hears its own replies', async (t) => {
  const b = await backendFor(t, { mode: 'echo' });
  const listener = await startUdpListener(t, udpServiceConfig({ listen: { host: '::', port: 0 } }), udpPool([udpMember(b)]));
  const port = listener.address().port;
  // A port free on 127.0.0.1 may be taken on ::1: try a few.
  let pair: { v4: Socket; v6: Socket; shared: number } | undefined;
  for (let attempt = 0; attempt < 5 && pair === undefined; attempt++) {
    const v4 = createSocket('udp4');
    const v6 = createSocket({ type: 'udp6', ipv6Only: true });
    const shared = await bindOn(v4, '127.0.0.1', 0);
    try {
      await bindOn(v6, '::1', shared);
      pair = { v4, v6, shared };
    } catch {
      v4.close();
      v6.close();
    }
  }
  if (pair === undefined) throw new Error('no port free on both 127.0.0.1 and ::1');
  const { v4, v6, shared } = pair;
  t.teardown(() => {
    v4.close();
    v6.close();
  });
  for (let round = 0; round < 3; round++) {
    const heard4 = nextMessage(v4);
    const heard6 = nextMessage(v6);
    v4.send(`v4 round ${round}`, port, '127.0.0.1');
    v6.send(`v6 round ${round}`, port, '::1');
    t.equal(await heard4, `v4 round ${round}`);
    t.equal(await heard6, `v6 round ${round}`);
  }
  t.equal(listener.activeCount, 2);
  const records: string[] = [];
  const both = new Promise<void>((resolve) => {
    listener.on('session-end', (r) => {
      records.push(r.client);
      if (records.length === 2) resolve();
    });
  });
  listener.closeAll('shutdown');
  await both;
  t.same(records.sort(), [`127.0.0.1:${shared}`, `[::1]:${shared}`].sort());
  t.equal(listener.activeCount, 0);
});

/**
 * RawUdp against real loopback peers: a connected upstream socket (replies, the sender's
 * address, ICMP port unreachable as an error after the call, names looked up), a dgram
 * socket taken over (its datagrams and sends), and close (nothing reported after it).
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { RawUdp, type DatagramEvents, type Sender } from '../../src/net/raw-udp.js';
import { unreachableUdpPort } from '../helpers/udp-backends.js';

t.setTimeout(30_000);

interface Log {
  messages: { msg: string; from: Sender }[];
  errors: { code: string | undefined; sending: boolean }[];
  connects: number;
  next(): Promise<void>;
}

function recorder(): { log: Log; events: DatagramEvents<Log> } {
  let wake: (() => void) | undefined;
  const log: Log = {
    messages: [],
    errors: [],
    connects: 0,
    next: () => new Promise((r) => (wake = r)),
  };
  const happened = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const events: DatagramEvents<Log> = {
    message: (l, msg, from) => {
      l.messages.push({ msg: msg.toString(), from });
      happened();
    },
    connect: (l) => {
      l.connects++;
      happened();
    },
    error: (l, err, sending) => {
      l.errors.push({ code: err.code, sending });
      happened();
    },
  };
  return { log, events };
}

/** An echo server on loopback: answers each datagram with `echo:` and its text. */
async function echo(t: Test, type: 'udp4' | 'udp6' = 'udp4'): Promise<{ port: number; server: Socket }> {
  const server = createSocket(type);
  server.on('message', (m, r) => server.send(`echo:${m.toString()}`, r.port, r.address));
  server.bind(0, type === 'udp4' ? '127.0.0.1' : '::1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return { port: server.address().port, server };
}

t.test('a socket connected to an IP sends at once and hears its peer', async (t) => {
  const { port } = await echo(t);
  const { log, events } = recorder();
  const s = RawUdp.connect('127.0.0.1', port, events, log);
  t.teardown(() => s.close());
  t.ok(s.connected, 'connected when connect() returns');
  const got = log.next();
  s.send(Buffer.from('one'));
  await got;
  t.equal(log.messages[0]!.msg, 'echo:one');
  t.match(log.messages[0]!.from, { address: '127.0.0.1', port });
  for (let i = 0; i < 100; i++) s.send(Buffer.from(`n${i}`));
  while (log.messages.length < 101) await log.next();
  t.same(
    log.messages.slice(1).map((m) => m.msg),
    Array.from({ length: 100 }, (_, i) => `echo:n${i}`),
    'a burst arrives whole and in order',
  );
  t.equal(log.connects, 0, 'no connect event for an IP');
});

t.test('IPv6', async (t) => {
  const { port } = await echo(t, 'udp6');
  const { log, events } = recorder();
  const s = RawUdp.connect('::1', port, events, log);
  t.teardown(() => s.close());
  const got = log.next();
  s.send(Buffer.from('six'));
  await got;
  t.equal(log.messages[0]!.msg, 'echo:six');
  t.equal(log.messages[0]!.from.address, '::1');
});

t.test('a peer with nothing listening: ICMP port unreachable is an error, reported after the call', async (t) => {
  const { port } = await unreachableUdpPort(t);
  const { log, events } = recorder();
  const s = RawUdp.connect('127.0.0.1', port, events, log);
  t.teardown(() => s.close());
  const failed = log.next();
  s.send(Buffer.from('anyone?'));
  t.same(log.errors, [], 'nothing inside send()');
  await failed;
  t.equal(log.errors[0]!.code, 'ECONNREFUSED');
});

// Only `localhost` (from /etc/hosts): a test never asks a DNS server off this machine.
t.test('a name is looked up: not connected until `connect`, then as with an IP', async (t) => {
  const { port } = await echo(t);
  const { log, events } = recorder();
  const s = RawUdp.connect('localhost', port, events, log);
  t.teardown(() => s.close());
  t.notOk(s.connected, 'not yet');
  s.send(Buffer.from('early'));
  await log.next();
  t.equal(log.connects, 1, 'connect once the name resolved');
  t.ok(s.connected);
  const got = log.next();
  s.send(Buffer.from('late'));
  await got;
  t.same(
    log.messages.map((m) => m.msg),
    ['echo:late'],
    'a send before the connection was not sent (the owner holds such datagrams)',
  );
});

t.test('a dgram socket taken over: its datagrams reach the events, sendTo answers through it', async (t) => {
  const listening = createSocket('udp4');
  listening.bind(0, '127.0.0.1');
  await once(listening, 'listening');
  t.teardown(() => listening.close());
  let viaDgram = 0;
  listening.on('message', () => viaDgram++);
  const { log, events } = recorder();
  const raw = RawUdp.adopt(listening, events, log);

  const client = createSocket('udp4');
  client.bind(0, '127.0.0.1');
  await once(client, 'listening');
  t.teardown(() => client.close());
  const got = log.next();
  client.send('hello', listening.address().port, '127.0.0.1');
  await got;
  t.equal(log.messages[0]!.msg, 'hello');
  t.match(log.messages[0]!.from, { address: '127.0.0.1', port: client.address().port });
  t.equal(viaDgram, 0, 'not through the dgram socket');

  const reply = once(client, 'message');
  raw.sendTo(Buffer.from('hi back'), client.address().port, '127.0.0.1');
  const [msg, from] = (await reply) as [Buffer, { port: number }];
  t.equal(msg.toString(), 'hi back');
  t.equal(from.port, listening.address().port, 'from the listening address');

  raw.close();
  client.send('after', listening.address().port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(log.messages.length, 1, 'let go of: nothing more reported');
});

t.test('a closed socket reports nothing more, not even an error already on its way', async (t) => {
  const { port } = await unreachableUdpPort(t);
  const { log, events } = recorder();
  const s = RawUdp.connect('127.0.0.1', port, events, log);
  s.send(Buffer.from('x'));
  s.close();
  s.send(Buffer.from('y'));
  await new Promise((r) => setTimeout(r, 50));
  t.same(log.errors, []);
  t.same(log.messages, []);
});

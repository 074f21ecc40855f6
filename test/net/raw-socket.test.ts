/**
 * RawSocket against real loopback peers: net.Socket's half-open semantics (end, FIN after
 * queued writes, close once both directions are done), backpressure (write false, drain),
 * connect errors, names looked up, and accepting through a net.Server's handle.
 */
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { IGNORE, RawSocket, takeConnections, type SocketEvents } from '../../src/net/raw-socket.js';

t.setTimeout(30_000);

/** Records what a socket reports, in order. */
interface Log {
  events: string[];
  bytes: Buffer[];
  errors: NodeJS.ErrnoException[];
  closed: Promise<void>;
  wait(event: string): Promise<void>;
}

function recorder(): { log: Log; events: SocketEvents<Log> } {
  let closed!: () => void;
  const waiters = new Map<string, () => void>();
  const log: Log = {
    events: [],
    bytes: [],
    errors: [],
    closed: new Promise((r) => (closed = r)),
    wait: (event) => (log.events.includes(event) ? Promise.resolve() : new Promise((r) => waiters.set(event, r))),
  };
  const note = (l: Log, e: string): void => {
    l.events.push(e);
    waiters.get(e)?.();
  };
  const events: SocketEvents<Log> = {
    connect: (l) => note(l, 'connect'),
    data: (l, chunk) => {
      l.bytes.push(Buffer.from(chunk));
      note(l, 'data');
    },
    end: (l) => note(l, 'end'),
    drain: (l) => note(l, 'drain'),
    error: (l, err) => {
      l.errors.push(err);
      note(l, 'error');
    },
    close: (l) => {
      note(l, 'close');
      closed();
    },
  };
  return { log, events };
}

async function listen(server: Server, t: Test): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

t.test('half-close both ways: end after the FIN, close once both directions are done', async (t) => {
  let peer!: Socket;
  const server = createServer({ allowHalfOpen: true }, (s) => (peer = s));
  const port = await listen(server, t);
  const { log, events } = recorder();
  const socket = RawSocket.connect('127.0.0.1', port, events, log);
  socket.resume();
  await log.wait('connect');
  await new Promise((r) => setImmediate(r));
  t.ok(peer, 'the server accepted');
  const got: Buffer[] = [];
  peer.on('data', (c: Buffer) => got.push(c));
  socket.write(Buffer.from('ping'));
  socket.end();
  await once(peer, 'end');
  t.equal(Buffer.concat(got).toString(), 'ping', 'the peer got our bytes, then our FIN');
  t.notOk(log.events.includes('close'), 'our write half closed, the socket stays open for reading');
  peer.end('pong');
  await log.closed;
  t.equal(Buffer.concat(log.bytes).toString(), 'pong', 'we still read after our FIN');
  t.same(log.events.slice(-2), ['end', 'close'], 'end, then close once both directions are done');
  t.ok(socket.closed);
});

t.test('write returns false when bytes are queued, and drain follows', async (t) => {
  let peer!: Socket;
  const server = createServer((s) => {
    peer = s;
    s.pause();
  });
  const port = await listen(server, t);
  const { log, events } = recorder();
  const socket = RawSocket.connect('127.0.0.1', port, events, log);
  t.teardown(() => socket.destroy());
  await log.wait('connect');
  const chunk = Buffer.alloc(1024 * 1024, 7);
  let writes = 0;
  while (socket.write(chunk) && writes < 1000) writes++;
  t.ok(writes < 1000, `write returned false after ${writes} MiB the peer did not read`);
  t.ok(socket.needDrain, 'needDrain while queued');
  let received = 0;
  peer.on('data', (c: Buffer) => (received += c.length));
  peer.resume();
  await log.wait('drain');
  t.notOk(socket.needDrain, 'drained');
  t.ok(received > 0, 'the peer is reading');
});

t.test('a refused connect is an error naming the address, then close', async (t) => {
  const server = createServer();
  const port = await listen(server, t);
  server.close();
  await once(server, 'close');
  const { log, events } = recorder();
  RawSocket.connect('127.0.0.1', port, events, log);
  await log.closed;
  t.same(log.events, ['error', 'close']);
  t.equal(log.errors[0]!.code, 'ECONNREFUSED');
  t.match(log.errors[0]!.message, `127.0.0.1:${port}`);
});

t.test('a bad port throws, as net.connect does', async (t) => {
  const { log, events } = recorder();
  t.throws(() => RawSocket.connect('127.0.0.1', 0, events, log), { code: 'ERR_SOCKET_BAD_PORT' });
  t.throws(() => RawSocket.connect('127.0.0.1', 70000, events, log), { code: 'ERR_SOCKET_BAD_PORT' });
});

// Only `localhost` (from /etc/hosts): a test never asks a DNS server off this machine.
t.test('a name is looked up', async (t) => {
  const server = createServer((s) => s.end('hi'));
  const port = await listen(server, t);
  const { log, events } = recorder();
  const socket = RawSocket.connect('localhost', port, events, log);
  socket.resume();
  await log.wait('end');
  t.equal(Buffer.concat(log.bytes).toString(), 'hi');
  socket.end();
  await log.closed;
});

t.test('destroy closes and reports close before it returns; a socket given other events reports nothing more', async (t) => {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.write('x');
  });
  const port = await listen(server, t);
  const { log, events } = recorder();
  const socket = RawSocket.connect('127.0.0.1', port, events, log);
  await log.wait('connect');
  socket.destroy();
  t.same(log.events, ['connect', 'close'], 'close is reported by destroy itself');
  socket.destroy();
  t.same(log.events, ['connect', 'close'], 'once');

  const quiet = recorder();
  const other = RawSocket.connect('127.0.0.1', port, quiet.events, quiet.log);
  await quiet.log.wait('connect');
  other.setEvents({ connect() {}, data() {}, end() {}, drain() {}, error() {}, close() {} }, undefined);
  other.resume();
  other.destroy();
  await new Promise((r) => setTimeout(r, 50));
  t.same(quiet.log.events, ['connect'], 'nothing after the switch');
});

t.test('takeConnections hands a listening server’s connections over as handles', async (t) => {
  const server = createServer();
  const port = await listen(server, t);
  const accepted: RawSocket[] = [];
  const logs: Log[] = [];
  takeConnections(
    server,
    (handle) => {
      const peer = RawSocket.peerOf(handle);
      t.equal(peer?.address, '127.0.0.1', 'the peer address is readable before serving');
      const { log, events } = recorder();
      logs.push(log);
      const s = RawSocket.accept(handle, events, log);
      accepted.push(s);
      s.resume();
      s.write(Buffer.from('hello'));
      s.end();
    },
    (err) => t.fail(err.message),
  );
  const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const got: Buffer[] = [];
  client.on('data', (c: Buffer) => got.push(c));
  await once(client, 'end');
  client.end('bye');
  await logs[0]!.closed;
  t.equal(Buffer.concat(got).toString(), 'hello');
  t.equal(Buffer.concat(logs[0]!.bytes).toString(), 'bye');
  t.equal(accepted.length, 1);
});

t.test('a reused read buffer is held only while reads are bulk, then given back and taken again', async (t) => {
  let peer!: Socket;
  const server = createServer((s) => (peer = s));
  const port = await listen(server, t);
  /** Each chunk's backing store and whether all its bytes are the phase's fill byte. */
  const chunks: { store: ArrayBufferLike; intact: boolean }[] = [];
  let fill = 0;
  let received = 0;
  let want = 0;
  let arrived: () => void = () => {};
  const events: SocketEvents<undefined> = {
    ...IGNORE,
    data: (_, chunk) => {
      chunks.push({ store: chunk.buffer, intact: chunk.every((b) => b === fill) });
      received += chunk.length;
      if (received >= want) arrived();
    },
  };
  const socket = RawSocket.connect('127.0.0.1', port, events, undefined);
  t.teardown(() => socket.destroy());
  socket.reuseReadBuffer();
  socket.resume();
  await new Promise((r) => setTimeout(r, 20));
  /** The peer sends `bytes` of `byte`; resolves with the chunks they came in. */
  const phase = async (byte: number, bytes: number) => {
    fill = byte;
    const from = chunks.length;
    want = received + bytes;
    const done = new Promise<void>((r) => (arrived = r));
    peer.write(Buffer.alloc(bytes, byte));
    await done;
    return chunks.slice(from);
  };

  const bulk = await phase(1, 4 * 1024 * 1024);
  // The first bulk read is copied out (it came into the shared buffer); the rest go into the socket's own.
  const own = bulk.at(-2)?.store;
  t.equal(own?.byteLength, 64 * 1024, 'bulk reads go into a 64 KiB buffer the socket keeps');
  const inOwn = bulk.filter((c) => c.store === own).length;
  t.ok(inOwn >= 0.8 * bulk.length, `the same buffer, read after read (${inOwn} of ${bulk.length} reads)`);
  // The bulk phase may have ended on a small read: three more, one at a time, are past the two that give it back.
  await phase(2, 100);
  await phase(3, 100);
  const small = await phase(5, 100);
  t.not(small[0]!.store, own, 'after small reads the socket no longer holds it: a small chunk is a copy');
  const again = await phase(6, 4 * 1024 * 1024);
  t.ok(
    again.some((c) => c.store === own),
    'the next bulk transfer takes the given-back buffer instead of allocating one',
  );
  t.ok(
    chunks.every((c) => c.intact),
    'every chunk carries its own bytes',
  );
});

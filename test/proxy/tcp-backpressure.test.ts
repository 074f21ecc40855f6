/**
 * Backpressure: 1 GiB from a fast member to a client that stops reading for a
 * while and then reads in bursts. The proxy (in this process) must pause the
 * member instead of buffering: the process RSS stays within a bound. And bulk
 * bytes both ways, with stalls, arrive intact (the relay reuses its read buffers
 * once it sees bulk reads).
 */
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { sourceServer } from '../helpers/backends.js';
import { startProxy } from '../helpers/tcp-proxy.js';

const TOTAL = 1024 * 1024 * 1024;
/** Growth over the baseline allowed to the whole process (member, proxy and client all live here). */
const RSS_BOUND = 64 * 1024 * 1024;

t.setTimeout(60_000);

t.test('1 GiB to a slow client keeps memory bounded', async (t) => {
  const source = await sourceServer(TOTAL);
  t.teardown(() => source.close());
  const proxy = await startProxy(t, [source.endpoint]);
  // The client reads into one buffer of its own, so the RSS measured is the proxy's, not a gigabyte of the client's garbage.
  // It reads in bursts: a pause of 20 ms after every 64 MiB.
  let got = 0;
  let nextPause = 64 * 1024 * 1024;
  let received = (): void => {};
  const client: Socket = await proxy.connect({
    onread: {
      buffer: Buffer.allocUnsafe(64 * 1024),
      callback(n) {
        got += n;
        if (got === TOTAL) received();
        if (got < nextPause) return true;
        nextPause += 64 * 1024 * 1024;
        setTimeout(() => client.resume(), 20);
        return false;
      },
    },
  });
  client.pause();

  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  t.teardown(() => clearInterval(sampler));

  // Not reading at all: the member must be held back once the socket buffers fill.
  await new Promise((r) => setTimeout(r, 1000));
  const sentWhilePaused = source.bytesSent;
  t.ok(sentWhilePaused < 256 * 1024 * 1024, `the member was held back (${(sentWhilePaused / 2 ** 20).toFixed(1)} MiB sent while the client read nothing)`);

  const started = Date.now();
  const done = new Promise<void>((resolve, reject) => {
    received = resolve;
    client.once('error', reject);
  });
  client.resume();
  await done;
  const seconds = (Date.now() - started) / 1000;
  clearInterval(sampler);
  t.equal(got, TOTAL, 'the client got every byte');
  client.end();
  const [record] = await proxy.waitForRecords(1);
  t.match(record, { end: 'member-closed', bytesOut: TOTAL, bytesIn: 0 });
  const growth = peak - baseline;
  t.ok(growth < RSS_BOUND, `RSS grew ${(growth / 2 ** 20).toFixed(1)} MiB (bound ${RSS_BOUND / 2 ** 20} MiB)`);
  t.comment(`1 GiB through the proxy in ${seconds.toFixed(2)} s (${(TOTAL / 2 ** 20 / seconds).toFixed(0)} MiB/s, member, proxy and client in one process)`);
});

/** Deterministic bytes: chunk i of a stream named `seed` (so both ends can check what crossed). */
function pattern(seed: number, i: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761 + i * 40503 + 1) >>> 0;
  for (let k = 0; k < size; k += 4) {
    x = (x * 1664525 + 1013904223) >>> 0;
    b.writeUInt32LE(x, k);
  }
  return b;
}

t.test('bulk both ways at once, with stalls on both ends: every byte arrives intact and in order', async (t) => {
  const CHUNK = 256 * 1024;
  const CHUNKS = 128; // 32 MiB each way
  const expect = (seed: number): string => {
    const h = createHash('sha256');
    for (let i = 0; i < CHUNKS; i++) h.update(pattern(seed, i, CHUNK));
    return h.digest('hex');
  };
  /** Writes the pattern with backpressure; reads everything, stalling now and then; resolves with the hash read. */
  const exchange = (socket: Socket, seed: number): Promise<string> => {
    let i = 0;
    const pump = (): void => {
      while (i < CHUNKS) if (!socket.write(pattern(seed, i++, CHUNK))) return void socket.once('drain', pump);
      socket.end();
    };
    pump();
    const h = createHash('sha256');
    let got = 0;
    let nextStall = 4 * 1024 * 1024;
    return new Promise((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        h.update(chunk);
        got += chunk.length;
        if (got >= nextStall) {
          nextStall += 4 * 1024 * 1024;
          socket.pause();
          setTimeout(() => socket.resume(), 15);
        }
      });
      socket.once('end', () => resolve(h.digest('hex')));
      socket.once('error', reject);
    });
  };
  let memberRead: Promise<string> | undefined;
  const member = createServer({ allowHalfOpen: true }, (s) => {
    memberRead = exchange(s, 1);
  });
  await new Promise<void>((r) => member.listen(0, '127.0.0.1', r));
  t.teardown(() => member.close());
  const port = (member.address() as AddressInfo).port;
  const proxy = await startProxy(t, [{ host: '127.0.0.1', port }]);
  const client = await proxy.connect();
  const clientRead = await exchange(client, 2);
  t.equal(clientRead, expect(1), 'the client read the member’s 32 MiB intact');
  t.equal(await memberRead, expect(2), 'the member read the client’s 32 MiB intact');
  const [record] = await proxy.waitForRecords(1);
  t.match(record, { bytesIn: CHUNK * CHUNKS, bytesOut: CHUNK * CHUNKS });
});

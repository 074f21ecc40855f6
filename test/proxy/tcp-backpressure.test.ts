/**
 * Backpressure: 1 GiB from a fast member to a client that stops reading for a
 * while and then reads in bursts. The proxy (in this process) must pause the
 * member instead of buffering: the process RSS stays within a bound.
 */
import t from 'tap';
import { sourceServer } from '../helpers/backends.js';
import { startProxy } from '../helpers/tcp-proxy.js';

const TOTAL = 1024 * 1024 * 1024;
/** Growth over the baseline allowed to the whole process (member, proxy and client all live here). */
const RSS_BOUND = 100 * 1024 * 1024;

t.setTimeout(60_000);

t.test('1 GiB to a slow client keeps memory bounded', async (t) => {
  const source = await sourceServer(TOTAL);
  t.teardown(() => source.close());
  const proxy = await startProxy(t, [source.endpoint]);
  const client = await proxy.connect();
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

  // Then read in bursts: a pause of 20 ms after every 64 MiB.
  const started = Date.now();
  let got = 0;
  let nextPause = 64 * 1024 * 1024;
  const done = new Promise<void>((resolve, reject) => {
    client.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= nextPause) {
        nextPause += 64 * 1024 * 1024;
        client.pause();
        setTimeout(() => client.resume(), 20);
      }
    });
    client.once('end', resolve);
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

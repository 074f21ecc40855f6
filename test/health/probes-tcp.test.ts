import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import t from 'tap';
import { probe } from '../../src/health/probes/tcp.js';
import { checkConfig, runProbe } from '../helpers/probe-check.js';
import { refusingPort } from '../helpers/backends.js';

t.setTimeout(20_000);

async function listen(host: string, onSocket: (s: Socket) => void = () => {}): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    onSocket(s);
    // Keep reading, so the server sees the probe's close.
    s.resume();
  });
  server.listen(0, host);
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { server, port: (server.address() as { port: number }).port };
}

t.test('a listening member passes, and the probe closes its connection', async (t) => {
  let closed: () => void;
  const serverSawClose = new Promise<void>((r) => (closed = r));
  const { port } = await listen('127.0.0.1', (s) => s.on('close', () => closed()).on('error', () => {}));
  const r = await runProbe(probe, { host: '127.0.0.1', port }, checkConfig('tcp'));
  t.equal(r.ok, true);
  t.match(r.detail, /^connected in \d+(\.\d)?ms$/);
  await serverSawClose;
});

t.test('IPv6 loopback', async (t) => {
  const { port } = await listen('::1', (s) => s.on('error', () => {}));
  const r = await runProbe(probe, { host: '::1', port }, checkConfig('tcp'));
  t.equal(r.ok, true, r.detail);
});

t.test('a refused port fails with "connection refused"', async (t) => {
  const { port } = await refusingPort(t);
  const r = await runProbe(probe, { host: '127.0.0.1', port }, checkConfig('tcp'));
  t.equal(r.ok, false);
  t.equal(r.detail, 'connection refused');
  t.ok(r.elapsed < 1000, `settled in ${r.elapsed}ms`);
});

t.test('aborted while connecting: settles at once with the abort reason, no socket left', async (t) => {
  const { server, port } = await listen('127.0.0.1', (s) => s.on('error', () => {}));
  const controller = new AbortController();
  const pending = probe({ host: '127.0.0.1', port }, checkConfig('tcp'), controller.signal);
  controller.abort(new Error('timeout after 5ms'));
  const r = await pending;
  t.equal(r.ok, false);
  t.equal(r.detail, 'timeout after 5ms while connecting');
  // Whatever the kernel accepted is gone once the server has no connections left.
  await t.resolves(waitFor(() => countConnections(server).then((n) => n === 0), 2000));
});

t.test('an already aborted signal never connects', async (t) => {
  let accepted = 0;
  const { port } = await listen('127.0.0.1', () => accepted++);
  const r = await probe({ host: '127.0.0.1', port }, checkConfig('tcp'), AbortSignal.abort(new Error('timeout after 1ms')));
  t.equal(r.ok, false);
  t.equal(r.detail, 'timeout after 1ms before connecting');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(accepted, 0);
});

function countConnections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

async function waitFor(test: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`not within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

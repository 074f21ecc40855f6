import { createSocket } from 'node:dgram';
import t from 'tap';
import type { Expectation, HealthCheckConfig, SendExpectStep } from '../../src/config/types.js';
import { probe } from '../../src/health/probes/udp-send-expect.js';
import { checkConfig, runProbe } from '../helpers/probe-check.js';
import { unreachableUdpPort } from '../helpers/udp-backends.js';

t.setTimeout(30_000);

/**
 * A UDP service on `host`: "PING x" → "PONG x", "STATUS" → bytes 0x00 0x01 "ok",
 * "SILENT" → nothing; anything else → "ERR unknown".
 */
async function startService(host: string): Promise<{ host: string; port: number; received: string[] }> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const received: string[] = [];
  socket.on('message', (msg, rinfo) => {
    const text = msg.toString();
    received.push(text);
    const send = (out: Buffer | string) => socket.send(out, rinfo.port, rinfo.address);
    if (text.startsWith('PING')) send(`PONG${text.slice(4)}`);
    else if (text === 'STATUS') send(Buffer.from([0x00, 0x01, 0x6f, 0x6b]));
    else if (text !== 'SILENT') send('ERR unknown');
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  t.teardown(() => socket.close());
  return { host, port: socket.address().port, received };
}

const v4 = await startService('127.0.0.1');
const v6 = await startService('::1');

const str = (value: string): Expectation => ({ kind: 'string', value });
const step = (send: string | undefined, expect?: Expectation): SendExpectStep => ({
  ...(send === undefined ? {} : { send: Buffer.from(send) }),
  ...(expect === undefined ? {} : { expect }),
});
const udp = (...steps: SendExpectStep[]): HealthCheckConfig => checkConfig('udp-send-expect', { steps });

const cases: Array<{ name: string; target: { host: string; port: number }; check: HealthCheckConfig; ok: boolean; detail: string | RegExp }> = [
  { name: 'string found in the reply', target: v4, check: udp(step('PING 1', str('PONG'))), ok: true, detail: 'got "PONG 1"' },
  { name: 'regex', target: v4, check: udp(step('PING 42', { kind: 'regex', value: /^PONG \d+$/ })), ok: true, detail: 'got "PONG 42"' },
  { name: 'hex bytes', target: v4, check: udp(step('STATUS', { kind: 'hex', value: Buffer.from('0001', 'hex') })), ok: true, detail: 'got "\\x00\\x01ok"' },
  { name: 'a reply that does not match fails at once', target: v4, check: udp(step('HELLO', str('PONG'))), ok: false, detail: 'expected "PONG", got "ERR unknown"' },
  { name: 'steps in order', target: v4, check: udp(step('PING a', str('PONG a')), step('PING b', str('PONG b'))), ok: true, detail: 'got "PONG b"' },
  { name: 'the failing step is named', target: v4, check: udp(step('PING a', str('PONG a')), step('HELLO', str('PONG'))), ok: false, detail: 'expected "PONG" at step 2 of 2, got "ERR unknown"' },
  { name: 'an IPv6 member', target: v6, check: udp(step('PING 6', str('PONG 6'))), ok: true, detail: 'got "PONG 6"' },
  { name: 'without an expect there is nothing to judge', target: v4, check: udp(step('PING')), ok: false, detail: 'udp-send-expect needs an expect' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = await runProbe(probe, c.target, c.check);
    t.equal(r.ok, c.ok, r.detail);
    if (typeof c.detail === 'string') t.equal(r.detail, c.detail);
    else t.match(r.detail, c.detail);
    t.ok(r.elapsed < 1000, `settled in ${r.elapsed}ms`);
  });
}

t.test('no reply: the probe settles when the signal aborts', async (t) => {
  const r = await runProbe(probe, v4, udp(step('SILENT', str('anything'))), 200);
  t.same({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'timeout after 200ms waiting for a reply' });
  t.ok(r.elapsed >= 190 && r.elapsed < 1500, `settled in ${r.elapsed}ms`);
});

t.test('a closed port fails at once as port unreachable (IPv4 and IPv6)', async (t) => {
  for (const host of ['127.0.0.1', '::1']) {
    const { port } = await unreachableUdpPort(t, host);
    const r = await runProbe(probe, { host, port }, udp(step('PING', str('PONG'))), 3000);
    t.same({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'port unreachable waiting for a reply' }, host);
    t.ok(r.elapsed < 1000, `${host}: settled in ${r.elapsed}ms`);
  }
});

t.test('an already aborted signal fails without sending', async (t) => {
  const before = v4.received.length;
  const controller = new AbortController();
  controller.abort(new Error('timeout after 1ms'));
  const r = await probe(v4, udp(step('PING x', str('PONG'))), controller.signal);
  t.same(r, { ok: false, detail: 'timeout after 1ms before sending' });
  t.equal(v4.received.length, before);
});

import { createSocket, type Socket } from 'node:dgram';
import t, { type Test } from 'tap';
import type { HealthCheckConfig } from '../../src/config/types.js';
import { probe } from '../../src/health/probes/dns.js';
import { checkConfig, runProbe } from '../helpers/probe-check.js';
import { startDnsmasq, type RunningServer } from '../helpers/servers.js';
import { unreachableUdpPort } from '../helpers/udp-backends.js';

t.setTimeout(60_000);

const addresses = { 'example.test': '127.0.0.2', 'v6.test': '::2', 'blocked.test': '' };
const hostRecords = { 'host.test': '127.0.0.3' };
const [v4, v6] = await Promise.all([startDnsmasq({ addresses, hostRecords }), startDnsmasq({ host: '::1', addresses })]);
t.teardown(() => Promise.all([v4.stop(), v6.stop()]));

const at = (s: RunningServer) => ({ host: s.host, port: s.port });
const dns = (query: string, queryType: HealthCheckConfig['queryType'] = 'A') => checkConfig('dns', { query, queryType });

const cases: Array<{ name: string; server: RunningServer; check: HealthCheckConfig; ok: boolean; detail: RegExp }> = [
  { name: 'A record', server: v4, check: dns('example.test'), ok: true, detail: /^NOERROR, 1 answer: 127\.0\.0\.2$/ },
  { name: 'A record of a subdomain', server: v4, check: dns('www.example.test.'), ok: true, detail: /^NOERROR, 1 answer: 127\.0\.0\.2$/ },
  { name: 'AAAA record', server: v4, check: dns('v6.test', 'AAAA'), ok: true, detail: /^NOERROR, 1 answer: ::2$/ },
  { name: 'a host record', server: v4, check: dns('host.test'), ok: true, detail: /^NOERROR, 1 answer: 127\.0\.0\.3$/ },
  { name: 'no AAAA for an A-only host (NOERROR, no answer)', server: v4, check: dns('host.test', 'AAAA'), ok: false, detail: /^NOERROR, no answer for host.test AAAA$/ },
  { name: 'NXDOMAIN', server: v4, check: dns('blocked.test'), ok: false, detail: /^NXDOMAIN for blocked.test A$/ },
  { name: 'a name the server will not resolve', server: v4, check: dns('elsewhere.invalid'), ok: false, detail: /^(REFUSED|SERVFAIL|NXDOMAIN) for elsewhere.invalid A$/ },
  { name: 'an IPv6 member', server: v6, check: dns('example.test'), ok: true, detail: /^NOERROR, 1 answer: 127\.0\.0\.2$/ },
  { name: 'a name DNS cannot carry', server: v4, check: dns(`${'a'.repeat(64)}.test`), ok: false, detail: /labels are 1 to 63 bytes/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = await runProbe(probe, at(c.server), c.check);
    t.equal(r.ok, c.ok, r.detail);
    t.match(r.detail, c.detail);
  });
}

t.test('a closed port fails at once as port unreachable (IPv4 and IPv6)', async (t) => {
  for (const host of ['127.0.0.1', '::1']) {
    const { port } = await unreachableUdpPort(t, host);
    const r = await runProbe(probe, { host, port }, dns('example.test'), 3000);
    t.equal(r.ok, false);
    t.equal(r.detail, 'port unreachable waiting for DNS reply', host);
    t.ok(r.elapsed < 1000, `${host}: settled in ${r.elapsed}ms`);
  }
});

async function udpServer(t: Test, onQuery: (query: Buffer, reply: (msg: Buffer) => void) => void): Promise<number> {
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => onQuery(msg, (out) => socket.send(out, rinfo.port, rinfo.address)));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.teardown(() => socket.close());
  return socket.address().port;
}

t.test('a server that never answers: the probe settles when the signal aborts', async (t) => {
  const port = await udpServer(t, () => undefined);
  const r = await runProbe(probe, { host: '127.0.0.1', port }, dns('example.test'), 200);
  t.same({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'timeout after 200ms waiting for DNS reply' });
  t.ok(r.elapsed < 1500, `settled in ${r.elapsed}ms`);
});

/** An answer to `query`: QR and RA set, one A record pointing back at the question's name. */
function answer(query: Buffer, id: number): Buffer {
  const out = Buffer.concat([query, Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 7])]);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(0x8180, 2);
  out.writeUInt16BE(1, 6);
  return out;
}

t.test('a reply with another id is ignored; ours is taken', async (t) => {
  const port = await udpServer(t, (query, reply) => {
    const id = query.readUInt16BE(0);
    reply(answer(query, (id + 1) & 0xffff));
    reply(answer(query, id));
  });
  const r = await runProbe(probe, { host: '127.0.0.1', port }, dns('example.test'));
  t.same({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'NOERROR, 1 answer: 10.0.0.7' });
});

t.test('each check asks with a fresh id', async (t) => {
  const ids = new Set<number>();
  const port = await udpServer(t, (query, reply) => {
    ids.add(query.readUInt16BE(0));
    reply(answer(query, query.readUInt16BE(0)));
  });
  for (let i = 0; i < 5; i++) await runProbe(probe, { host: '127.0.0.1', port }, dns('example.test'));
  t.ok(ids.size >= 4, `${ids.size} distinct ids in 5 queries`);
});

t.test('a reply that is not DNS fails', async (t) => {
  const port = await udpServer(t, (_query, reply) => reply(Buffer.from('hello')));
  const r = await runProbe(probe, { host: '127.0.0.1', port }, dns('example.test'));
  t.same({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'not a DNS reply (5 bytes)' });
});

t.test('a truncated reply with no answers passes: the answer exists, over TCP', async (t) => {
  const port = await udpServer(t, (query, reply) => {
    const out = Buffer.from(query);
    out.writeUInt16BE(0x8380, 2);
    reply(out);
  });
  const r = await runProbe(probe, { host: '127.0.0.1', port }, dns('example.test'));
  t.same({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'NOERROR, truncated' });
});

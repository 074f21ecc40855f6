// Members from DNS against a real dnsmasq: A records from a hosts file it
// re-reads on SIGHUP, SRV records with priorities (backups) and weights, and a
// whole balancer serving the members it discovered.
import t from 'tap';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DnsDiscovery } from '../../src/pool/discovery.js';
import type { MemberConfig } from '../../src/config/types.js';
import { startDnsmasq } from '../helpers/servers.js';
import { echoServer } from '../helpers/backends.js';
import { exchange, startBalancer, waitFor } from '../helpers/balancer.js';

t.setTimeout(60_000);
const dir = mkdtempSync(join(tmpdir(), 'switchyard-discovery-'));
// dnsmasq reads the hosts file after dropping to an unprivileged user.
chmodSync(dir, 0o755);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const hosts = join(dir, 'hosts');
writeFileSync(hosts, '127.0.0.11 pool.test\n127.0.0.12 pool.test\n');

const dns = await startDnsmasq({
  hostsFile: hosts,
  srvRecords: [
    { name: '_db._tcp.srv.test', target: 'a.srv.test', port: 5432, priority: 10, weight: 30 },
    { name: '_db._tcp.srv.test', target: 'b.srv.test', port: 5433, priority: 10, weight: 0 },
    { name: '_db._tcp.srv.test', target: 'c.srv.test', port: 5434, priority: 20, weight: 0 },
  ],
});
t.teardown(() => dns.stop());
const resolver = { host: dns.host, port: dns.port };

t.test('A records: members follow the answer, refreshed', async (t) => {
  const d = new DnsDiscovery({ dns: 'pool.test', type: 'A', port: 6000, refresh: 100, weight: 50, resolver });
  t.teardown(() => d.stop());
  const first = once(d, 'members') as Promise<[MemberConfig[]]>;
  await d.start();
  const [members] = await first;
  t.same(members.map((m) => [m.id, m.weight, m.backup]), [
    ['127.0.0.11:6000', 50, false],
    ['127.0.0.12:6000', 50, false],
  ]);
  const next = once(d, 'members') as Promise<[MemberConfig[]]>;
  writeFileSync(hosts, '127.0.0.12 pool.test\n127.0.0.13 pool.test\n');
  process.kill(dns.pid, 'SIGHUP');
  const [changed] = await next;
  t.same(changed.map((m) => m.id), ['127.0.0.12:6000', '127.0.0.13:6000'], 'a changed answer is published');
});

t.test('SRV: the lowest priority are primaries, others backups; record weights kept', async (t) => {
  const d = new DnsDiscovery({ dns: '_db._tcp.srv.test', type: 'SRV', refresh: 10_000, weight: 100, resolver });
  t.teardown(() => d.stop());
  const members = await d.lookup();
  t.same(
    members.map((m) => [m.id, m.weight, m.backup]).sort(),
    [
      ['a.srv.test:5432', 30, false],
      ['b.srv.test:5433', 100, false],
      ['c.srv.test:5434', 100, true],
    ],
  );
});

t.test('a failed lookup keeps the members and says so', async (t) => {
  const d = new DnsDiscovery({ dns: 'missing.test', type: 'A', port: 1, refresh: 10_000, weight: 100, resolver });
  t.teardown(() => d.stop());
  const error = once(d, 'error');
  await d.start();
  await error;
  t.pass('an error event, no members event');
});

t.test('a balancer serves the members it discovered', async (t) => {
  const backend = await echoServer();
  t.teardown(() => backend.close());
  writeFileSync(hosts, '127.0.0.1 svc.test\n');
  process.kill(dns.pid, 'SIGHUP');
  const lb = await startBalancer(
    t,
    `
services:
  - name: svc
    listen: 127.0.0.1:0
    discovery: { dns: svc.test, type: A, port: ${backend.port}, refresh: 200ms, resolver: "${dns.host}:${dns.port}" }
`,
  );
  await waitFor(() => lb.services.get('svc')!.pool.members.length === 1, 5000, 'the discovered member');
  t.ok((await exchange(lb.address('svc').port, 'hi\n')).ok, 'traffic reaches the discovered member');
});

import t from 'tap';
import { canonicalHost, isHostname, listenersOverlap, parseCidr } from '../../src/config/addresses.js';
import { config, parse, service, show } from './helpers.js';

t.test('listen addresses: IPv4, IPv6, localhost, port 0', async (t) => {
  const cases: [string, { host: string; port: number }][] = [
    ['0.0.0.0:6432', { host: '0.0.0.0', port: 6432 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['"[::]:6432"', { host: '::', port: 6432 }],
    ['"[::1]:6432"', { host: '::1', port: 6432 }],
    ['"[2001:DB8:0:0::1]:80"', { host: '2001:db8::1', port: 80 }],
    ['"[fe80::1%lo]:80"', { host: 'fe80::1%lo', port: 80 }],
    ['localhost:8080', { host: 'localhost', port: 8080 }],
    ['LOCALHOST:8080', { host: 'localhost', port: 8080 }],
  ];
  for (const [listen, want] of cases) t.same(service(`listen: ${listen}`).listen, want, listen);
});

t.test('listen addresses refused', async (t) => {
  const cases: [string, RegExp][] = [
    ['db.internal:80', /cannot listen on "db.internal": expected an IP address or localhost, not a name to resolve/],
    ['"::1:80"', /an IPv6 address goes in brackets/],
    ['"[::1]"', /got "\[::1\]"; the port is missing/],
    ['"0.0.0.0"', /the port is missing/],
    ['"0.0.0.0:65536"', /port 65536 is out of range; expected 0 to 65535/],
    ['":80"', /the host is missing in ":80"; write "0.0.0.0:80" or "\[::\]:80"/],
    ['"*:80"', /cannot listen on "\*"/],
    ['6432', /expected host:port or \[v6\]:port with an IP address or localhost.*got 6432/],
    ['"[127.0.0.1]:80"', /brackets hold IPv6 addresses only/],
    ['"256.0.0.1:80"', /cannot listen on "256.0.0.1"/],
  ];
  for (const [listen, message] of cases) {
    const r = parse(`services:\n  - { name: a, listen: ${listen}, members: ["10.0.0.1:1"] }\n`);
    t.match(show(r.errors), new RegExp(`^2:24 services\\[0\\]\\.listen: .*${message.source}`), listen);
  }
});

t.test('two listeners on one socket are refused, naming both', async (t) => {
  const cases: [string, string, string, boolean][] = [
    // first listen, second listen, protocols, conflict?
    ['127.0.0.1:7000', '127.0.0.1:7000', 'tcp tcp', true],
    ['127.0.0.1:7000', '127.0.0.1:7000', 'tcp udp', false],
    ['127.0.0.1:7000', '127.0.0.1:7001', 'tcp tcp', false],
    ['0.0.0.0:7000', '127.0.0.1:7000', 'tcp tcp', true],
    ['127.0.0.1:7000', '0.0.0.0:7000', 'udp udp', true],
    ['"[::]:7000"', '127.0.0.1:7000', 'tcp tcp', true],
    ['"[::]:7000"', '"[::1]:7000"', 'tcp tcp', true],
    ['0.0.0.0:7000', '"[::1]:7000"', 'tcp tcp', false],
    ['localhost:7000', '127.0.0.1:7000', 'tcp tcp', true],
    ['localhost:7000', '"[::1]:7000"', 'tcp tcp', true],
    ['"[::1]:7000"', '"[0:0::1]:7000"', 'tcp tcp', true],
    ['127.0.0.1:0', '127.0.0.1:0', 'tcp tcp', false],
    ['127.0.0.2:7000', '127.0.0.1:7000', 'tcp tcp', false],
  ];
  for (const [a, b, protocols, conflict] of cases) {
    const [pa, pb] = protocols.split(' ');
    const text = `services:
  - { name: a, protocol: ${pa}, listen: ${a}, members: ["10.0.0.1:1"] }
  - { name: b, protocol: ${pb}, listen: ${b}, members: ["10.0.0.1:1"] }
`;
    const r = parse(text);
    const label = `${a} ${pa} / ${b} ${pb}`;
    if (conflict) t.match(show(r.errors), /^3:\d+ services\[1\]\.listen: \S+ overlaps \S+, where service "a" listens \(services\[0\]\.listen, line 2\)$/, label);
    else t.same(r.errors, [], label);
  }
});

t.test('a service on the admin API port is refused', async (t) => {
  const r = parse('admin:\nservices:\n  - { name: a, listen: "0.0.0.0:9901", members: ["10.0.0.1:1"] }\n');
  t.match(show(r.errors), /services\[0\]\.listen: 0\.0\.0\.0:9901\/tcp overlaps 127\.0\.0\.1:9901, where the admin API listens \(admin\.listen, line 1\)/);
  t.same(parse('admin:\nservices:\n  - { name: a, protocol: udp, listen: "0.0.0.0:9901", members: ["10.0.0.1:1"] }\n').errors, [], 'udp does not clash with the admin API');
});

t.test('IPv6 throughout', async (t) => {
  const c = config(`admin: { listen: "[::1]:9901" }
services:
  - name: v6
    listen: "[::]:7000"
    allow: ["fd00::/8", "::1"]
    members: ["[fd00::11]:5432", { address: "[FD00::12]:5432" }]
`);
  t.same(c.admin?.listen, { host: '::1', port: 9901 });
  t.same(c.services[0]!.listen, { host: '::', port: 7000 });
  t.same(c.services[0]!.allow, ['fd00::/8', '::1/128']);
  t.same(c.services[0]!.members.map((m) => m.id), ['[fd00::11]:5432', '[fd00::12]:5432']);
});

t.test('parseCidr', async (t) => {
  const cases: [string, string | undefined][] = [
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['10.1.2.3/8', '10.1.2.3/8'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['192.168.0.1', '192.168.0.1/32'],
    ['::/0', '::/0'],
    ['FD00::/8', 'fd00::/8'],
    ['::1', '::1/128'],
    ['10.0.0.0/33', undefined],
    ['fd00::/129', undefined],
    ['10.0.0.0/', undefined],
    ['10.0.0.0/-1', undefined],
    ['10.0.0.0/8/8', undefined],
    ['10.0.0/8', undefined],
    ['example.com/8', undefined],
    ['', undefined],
  ];
  for (const [text, want] of cases) t.equal(parseCidr(text), want, text);
});

t.test('hostnames and canonical hosts', async (t) => {
  for (const ok of ['db', 'db.internal', 'DB-1.internal.', '_pg._tcp.example.com', 'a'.repeat(63) + '.x']) t.ok(isHostname(ok), ok);
  for (const bad of ['', 'a..b', '-db', 'db-', 'd b', 'a'.repeat(64), '10.0.0', '1.2.3.4.5', 'db!']) t.notOk(isHostname(bad), bad);
  t.equal(canonicalHost('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  t.equal(canonicalHost('::FFFF:10.0.0.1'), '::ffff:10.0.0.1');
  t.equal(canonicalHost('DB.Internal'), 'db.internal');
});

t.test('listenersOverlap', async (t) => {
  const ep = (host: string, port = 80) => ({ host, port });
  t.ok(listenersOverlap(ep('::'), ep('10.0.0.1')));
  t.ok(listenersOverlap(ep('0.0.0.0'), ep('::')), 'dual-stack :: takes IPv4 too');
  t.notOk(listenersOverlap(ep('0.0.0.0', 0), ep('0.0.0.0', 0)));
  t.notOk(listenersOverlap(ep('10.0.0.1'), ep('10.0.0.2')));
});

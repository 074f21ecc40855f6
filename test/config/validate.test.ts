import t from 'tap';
import { oneService, parse, position, service, show, type ExpectedIssue } from './helpers.js';

interface Case extends ExpectedIssue {
  name: string;
  /** A service body (oneService fills in name, listen and members), or with `whole`, the document. */
  body: string;
  whole?: boolean;
}

// Each case: a service body with one mistake, the path and place the error must name, and what it says.
const cases: Case[] = [
  { name: 'unknown key, with the nearest known key', body: 'balanse: leastconn', path: 'services[0].balanse', at: 'balanse', message: /^unknown key `balanse`; did you mean `balance`\?$/ },
  { name: 'unknown key in snake_case', body: 'connect_timeout: 2s', path: 'services[0].connect_timeout', at: 'connect_timeout', message: /did you mean `connectTimeout`/ },
  { name: 'unknown key, nothing near', body: 'zzzzzz: 1', path: 'services[0].zzzzzz', at: 'zzzzzz', message: /unknown key `zzzzzz`; expected one of: name, protocol, listen/ },
  { name: 'enum value, with suggestion', body: 'balance: leastconns', path: 'services[0].balance', at: 'leastconns', message: /^expected roundrobin \| leastconn \| random2 \| maglev \| first, got "leastconns"; did you mean `leastconn`\?$/ },
  { name: 'protocol', body: 'protocol: sctp', path: 'services[0].protocol', at: 'sctp', message: /expected tcp \| udp, got "sctp"/ },
  { name: 'name with a space', body: 'name: "my svc"', path: 'services[0].name', at: '"my svc"', message: /expected a name of letters, digits/ },
  { name: 'name missing', whole: true, body: 'services:\n  - listen: 127.0.0.1:7000\n    members: [127.0.0.1:1]\n', path: 'services[0]', at: 'listen', message: /needs a `name`/ },
  { name: 'listen missing', whole: true, body: 'services:\n  - name: a\n    members: [127.0.0.1:1]\n', path: 'services[0]', at: 'name: a', message: /needs `listen`/ },
  { name: 'members and discovery both', body: 'members: [127.0.0.1:1]\ndiscovery: { dns: db.internal, port: 1 }', path: 'services[0].discovery', at: 'discovery', message: /`members` or `discovery`, not both/ },
  { name: 'neither members nor discovery', whole: true, body: 'services:\n  - name: a\n    listen: 127.0.0.1:7000\n', path: 'services[0]', at: 'name: a', message: /needs `members` \(or `discovery` to find them in DNS\)/ },
  { name: 'empty members', body: 'members: []', path: 'services[0].members', at: '[]', message: /at least one member/ },
  { name: 'duration without a unit', body: 'connectTimeout: 2', path: 'services[0].connectTimeout', at: 'connectTimeout: »2', message: /got 2; write the unit, e.g. "2s" or "2ms"/ },
  { name: 'duration of zero where it must be positive', body: 'connectTimeout: 0', path: 'services[0].connectTimeout', at: 'connectTimeout: »0', message: /must be longer than 0/ },
  { name: 'duration longer than a timer holds', body: 'drainTimeout: 30d', path: 'services[0].drainTimeout', at: '30d', message: /"30d" is too long; at most 24d20h31m23s647ms/ },
  { name: 'udp idleTimeout of 0 would keep sessions forever', body: 'protocol: udp\nidleTimeout: 0', path: 'services[0].idleTimeout', at: 'idleTimeout: »0', message: /must be longer than 0/ },
  { name: 'size with an ambiguous unit', body: 'replayBufferSize: 64KB', path: 'services[0].replayBufferSize', at: '64KB', message: /got "64KB \(write KiB, MiB or GiB\)"/ },
  { name: 'size too large', body: 'replayBufferSize: 1GiB', path: 'services[0].replayBufferSize', at: '1GiB', message: /1B to 16MiB/ },
  { name: 'negative retries', body: 'retries: -1', path: 'services[0].retries', at: '-1', message: /expected an integer from 0 to 100, got -1/ },
  { name: 'fractional integer', body: 'maxConnections: 1.5', path: 'services[0].maxConnections', at: '1.5', message: /expected an integer of 0 or more, got 1\.5/ },
  { name: 'YAML 1.1 boolean', body: 'panic: yes', path: 'services[0].panic', at: 'yes', message: /expected true or false, got "yes"/ },
  { name: 'proxy protocol true', body: 'sendProxyProtocol: true', path: 'services[0].sendProxyProtocol', at: 'true', message: /expected off \| v1 \| v2, got true/ },
  { name: 'udp-only key on tcp', body: 'maxSessions: 10', path: 'services[0].maxSessions', at: 'maxSessions', message: /^`maxSessions` applies only to udp services \(this one is tcp\)$/ },
  { name: 'tcp-only key on udp', body: 'protocol: udp\nfirstByteTimeout: 1s', path: 'services[0].firstByteTimeout', at: 'firstByteTimeout', message: /applies only to tcp services \(this one is udp\)/ },
  { name: 'replay without a first-byte timeout', body: 'replayOnSilence: true', path: 'services[0].replayOnSilence', at: 'true', message: /needs `firstByteTimeout`/ },
  { name: 'bad CIDR prefix', body: 'allow: [10.0.0.0/33]', path: 'services[0].allow[0]', at: '10.0.0.0/33', message: /expected an IPv4 or IPv6 address or CIDR/ },
  { name: 'bad IPv6 CIDR prefix', body: 'deny: ["fd00::/129"]', path: 'services[0].deny[0]', at: '"fd00::/129"', message: /got "fd00::\/129"/ },
  { name: 'CIDR that is a name', body: 'allow: [localhost]', path: 'services[0].allow[0]', at: 'localhost]', message: /got "localhost"/ },
  { name: 'CIDR list of a mapping', body: 'allow: { a: 1 }', path: 'services[0].allow', at: '{ a: 1 }', message: /expected a list, got a mapping/ },
  { name: 'member without port', body: 'members: [10.0.0.1]', path: 'services[0].members[0]', at: '10.0.0.1]', message: /got "10.0.0.1"; the port is missing/ },
  { name: 'member port 0', body: 'members: ["10.0.0.1:0"]', path: 'services[0].members[0]', at: '"10.0.0.1:0"', message: /port 0 is out of range; expected 1 to 65535/ },
  { name: 'member port too large', body: 'members: ["10.0.0.1:65536"]', path: 'services[0].members[0]', at: '"10.0.0.1:65536"', message: /port 65536 is out of range/ },
  { name: 'member bad hostname', body: 'members: ["bad!host:80"]', path: 'services[0].members[0]', at: '"bad!host:80"', message: /"bad!host" is neither an IP address nor a valid DNS name/ },
  { name: 'member almost an IPv4 address', body: 'members: ["10.0.0:80"]', path: 'services[0].members[0]', at: '"10.0.0:80"', message: /neither an IP address/ },
  { name: 'member IPv6 without brackets', body: 'members: ["fd00::1:80"]', path: 'services[0].members[0]', at: '"fd00::1:80"', message: /an IPv6 address goes in brackets/ },
  { name: 'member brackets around IPv4', body: 'members: ["[10.0.0.1]:80"]', path: 'services[0].members[0]', at: '"[10.0.0.1]:80"', message: /brackets hold IPv6 addresses only/ },
  { name: 'member weight 0', body: 'members: [{ address: "10.0.0.1:80", weight: 0 }]', path: 'services[0].members[0].weight', at: 'weight: »0', message: /weight 0 is not allowed \(1 to 1000\); use backup: true, or the admin drain/ },
  { name: 'member weight too large', body: 'members: [{ address: "10.0.0.1:80", weight: 1001 }]', path: 'services[0].members[0].weight', at: '1001', message: /expected an integer from 1 to 1000, got 1001/ },
  { name: 'member unknown key', body: 'members: [{ address: "10.0.0.1:80", wieght: 5 }]', path: 'services[0].members[0].wieght', at: 'wieght', message: /did you mean `weight`/ },
  { name: 'member without address', body: 'members: [{ weight: 5 }]', path: 'services[0].members[0]', at: '{ weight', message: /a member needs an `address`/ },
  { name: 'member as a number', body: 'members: [8080]', path: 'services[0].members[0]', at: '8080', message: /expected a member: "host:port" or a mapping with `address`, got 8080/ },
  { name: 'duplicate member', body: 'members: ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.1:80"]', path: 'services[0].members[2]', at: '"10.0.0.1:80"]', message: /member 10.0.0.1:80 is listed twice \(first at services\[0\].members\[0\], line 4\)/ },
  { name: 'duplicate member, spelled differently', body: 'members: ["[fd00::1]:80", "[FD00:0::1]:80"]', path: 'services[0].members[1]', at: '"[FD00', message: /member \[fd00::1\]:80 is listed twice/ },
  { name: 'duplicate member, name case', body: 'members: ["db.internal:80", "DB.internal:80"]', path: 'services[0].members[1]', at: '"DB', message: /member db.internal:80 is listed twice/ },
  { name: 'discovery A without a port', body: 'discovery: { dns: db.internal }', path: 'services[0].discovery', at: '{ dns', message: /an A lookup needs `port`/ },
  { name: 'discovery SRV with a port', body: 'discovery: { dns: _pg._tcp.db.internal, port: 5432 }', path: 'services[0].discovery.port', at: 'port: 5432', message: /SRV answers carry their own port/ },
  { name: 'discovery bad name', body: 'discovery: { dns: "db internal", port: 1 }', path: 'services[0].discovery.dns', at: '"db internal"', message: /expected a DNS name/ },
  { name: 'discovery type', body: 'discovery: { dns: db.internal, type: CNAME, port: 1 }', path: 'services[0].discovery.type', at: 'CNAME', message: /expected A \| AAAA \| SRV, got "CNAME"/ },
  { name: 'discovery refresh', body: 'discovery: { dns: db.internal, port: 1, refresh: 0 }', path: 'services[0].discovery.refresh', at: 'refresh: »0', message: /must be longer than 0/ },
  { name: 'outlier max shorter than first', body: 'outlier: { ejectTime: 1m, maxEjectTime: 30s }', path: 'services[0].outlier.maxEjectTime', at: '30s', message: /shorter than `ejectTime`/ },
  { name: 'outlier percent', body: 'outlier: { maxEjectedPercent: 101 }', path: 'services[0].outlier.maxEjectedPercent', at: '101', message: /expected an integer from 0 to 100, got 101/ },
  { name: 'outlier unknown key', body: 'outlier: { consecutiveErrors: 3 }', path: 'services[0].outlier.consecutiveErrors', at: 'consecutiveErrors', message: /did you mean `consecutiveFailures`/ },
  { name: 'a string where a mapping goes', body: 'outlier: on', path: 'services[0].outlier', at: 'on', message: /expected a mapping of keys, got "on"/ },
  { name: 'a number where a string goes', body: 'name: 42', path: 'services[0].name', at: '42', message: /expected a string, got 42 \(quote it to keep it as written\)/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const text = c.whole ? c.body : oneService(c.body);
    const r = parse(text);
    t.equal(r.config, undefined, 'no config when there are errors');
    const issue = r.errors.find((e) => e.path === c.path && c.message.test(e.message));
    if (!t.ok(issue, `an issue at ${c.path} matching ${c.message}; got:\n${show(r.errors)}\n---\n${text}`)) return;
    t.same({ line: issue!.line, column: issue!.column }, position(text, c.at), `points at ${JSON.stringify(c.at)}`);
    t.equal(issue!.file, 't.yaml');
    t.equal(issue!.code, 'SWY_ERR_CONFIG_INVALID');
  });
}

t.test('duplicate service names name the first', async (t) => {
  const text = `services:
  - { name: a, listen: "127.0.0.1:1", members: ["10.0.0.1:1"] }
  - { name: a, listen: "127.0.0.1:2", members: ["10.0.0.1:1"] }
`;
  const r = parse(text);
  t.same(show(r.errors), `3:13 services[1].name: service name "a" is already used by services[0].name, line 2`);
});

t.test('accepted forms', async (t) => {
  t.equal(service('sendProxyProtocol: false').sendProxyProtocol, 'off', 'false reads as off');
  t.same(service('allow: 10.0.0.0/8').allow, ['10.0.0.0/8'], 'a single CIDR is a list of one');
  t.same(service('allow: ["::1", "FD00::/8", 192.168.0.1]').allow, ['::1/128', 'fd00::/8', '192.168.0.1/32']);
  t.equal(service('maxConnections: 0').maxConnections, 0, '0 = no limit');
  t.equal(service('protocol: udp\nmaxSessions: 0').maxSessions, 0, '0 = no limit');
  t.equal(service('protocol: udp').idleTimeout, 30_000, 'udp idle default is 30s');
  t.equal(service('idleTimeout: 0').idleTimeout, 0, 'tcp may have no idle timeout');
  t.equal(service('replayBufferSize: 4096').replayBufferSize, 4096, 'bytes without a unit');
  t.same(service('members: ["db.internal:5432", { address: "[::1]:5432", weight: 1000, backup: true, maxConnections: 10 }]').members, [
    { address: { host: 'db.internal', port: 5432 }, id: 'db.internal:5432', weight: 100, backup: false, maxConnections: 0 },
    { address: { host: '::1', port: 5432 }, id: '[::1]:5432', weight: 1000, backup: true, maxConnections: 10 },
  ]);
  t.same(service('discovery: { dns: db.internal, type: AAAA, port: 5432 }').discovery, { dns: 'db.internal', type: 'AAAA', refresh: 10_000, weight: 100, port: 5432 });
  t.same(service('discovery: { dns: _pg._tcp.db.internal }').discovery, { dns: '_pg._tcp.db.internal', type: 'SRV', refresh: 10_000, weight: 100 }, 'underscore names are SRV');
  t.same(service('outlier: { consecutiveFailures: 0 }').outlier.consecutiveFailures, 0, '0 turns ejection off');
  t.equal(service('outlier: { ejectTime: 10m }').outlier.maxEjectTime, 600_000, 'an unwritten max follows a longer ejectTime');
  t.same(service('outlier:').outlier, { consecutiveFailures: 5, ejectTime: 30_000, maxEjectTime: 300_000, maxEjectedPercent: 50 });
});

t.test('YAML anchors and merges work, and errors inside point at the merge', async (t) => {
  const text = `x-timeouts: &timeouts
  connectTimeout: 1s
  idleTimeout: soon
services:
  - name: a
    listen: 127.0.0.1:7000
    <<: *timeouts
    members: [127.0.0.1:1]
`;
  const r = parse(text);
  // The anchor's holder is itself an unknown top-level key; both problems are reported.
  t.same(show(r.errors), [
    '1:1 x-timeouts: unknown key `x-timeouts`; expected one of: log, workers, admin, services',
    '7:5 services[0].idleTimeout: expected a duration like "250ms" or "2s" (0 = off), got "soon"',
  ].join('\n'));
});

t.test('warnings: accepted, but probably not meant', async (t) => {
  const r = parse(oneService('balance: leastconn\nhashKey: sourceIpPort\nmembers: [{ address: "127.0.0.1:1", backup: true }]'));
  t.ok(r.config, 'warnings do not refuse the config');
  t.same(r.warnings.map((w) => `${w.path}: ${w.message}`), [
    'services[0].hashKey: is used only by balance: maglev (this service uses leastconn)',
    'services[0].members: every member is a backup; they take traffic as primaries would, one at a time unless allBackups is set',
  ]);
});

/** The bench's parts that must stay right on their own: the histogram, the DNS bytes, the generated configs. */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Histogram } from '../../bench/lib/histogram.js';
import { processTree } from '../../bench/lib/children.js';
import { connectionsPerProcess, pssKiB, socketsPerProcess, treePssKiB, treeRssKiB } from '../../bench/lib/procstat.js';
import { dnsAnswer, dnsAnswerIndex, dnsId, dnsQuery, memberTag, response, RESPONSE_LENGTH, responseTag, setQueryId, tagIndex } from '../../bench/backends/protocol.js';
import { switchyardConfig } from '../../bench/compare/switchyard.js';
import { haproxy, haproxyConfig, parseServersState } from '../../bench/compare/haproxy.js';
import { nginx, nginxConfig } from '../../bench/compare/nginx.js';
import type { CheckKind, TargetOptions } from '../../bench/compare/target.js';
import type { RunRecord, ScenarioReport } from '../../bench/report/model.js';
import { markdown } from '../../bench/report/table.js';
import { parseConfig } from '../../src/config/load.js';

t.test('PSS summed over a tree counts the binary two processes share once; VmRSS once per process', async (t) => {
  // A parent and its child, as a primary and a worker; the child exits when the parent's pipe closes.
  const child = spawn(
    process.execPath,
    ['-e', `const { spawn } = require('node:child_process');
const c = spawn(process.execPath, ['-e', 'process.stdin.on("end", () => process.exit()).resume(); process.stdout.write("up")'], { stdio: ['pipe', 'pipe', 'inherit'] });
c.stdout.once('data', () => process.stdout.write('ready'));
process.stdin.on('end', () => process.exit()).resume();`],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.teardown(() => child.stdin!.end());
  await once(child.stdout!, 'data');
  t.equal(processTree(child.pid!).length, 2, 'parent and child');
  const rss = treeRssKiB(child.pid!);
  const pss = treePssKiB(child.pid!);
  t.ok(pss > 0 && pss < rss - 10 * 1024, `PSS ${pss} KiB against VmRSS ${rss} KiB`);
  child.stdin!.end();
  await once(child, 'exit');
  t.equal(pssKiB(child.pid!), 0, 'a process that is gone reads 0');
});

t.test('histogram percentiles stay within 2% and merge', async (t) => {
  const h = new Histogram();
  for (let v = 1; v <= 100_000; v++) h.record(v);
  for (const p of [50, 90, 99, 99.9]) {
    const want = (p / 100) * 100_000;
    const got = h.percentile(p);
    t.ok(Math.abs(got - want) / want < 0.02, `p${p}: ${got} ≈ ${want}`);
  }
  t.equal(h.percentile(100), 100_000, 'max is exact');
  const other = new Histogram();
  other.record(5_000_000);
  const merged = Histogram.from(h.toJSON()).merge(other.toJSON());
  t.equal(merged.count, 100_001);
  t.equal(merged.max, 5_000_000);
  t.equal(merged.min, 1);
});

t.test('DNS query and answer: id kept, member index in the address', async (t) => {
  const q = dnsQuery();
  setQueryId(q, 0xbeef);
  const a = dnsAnswer(q, 3);
  t.equal(dnsId(a), 0xbeef);
  t.equal(a.readUInt16BE(2) & 0x8000, 0x8000, 'QR set');
  t.equal(a.readUInt16BE(6), 1, 'one answer');
  t.equal(dnsAnswerIndex(a), 3);
  const bad = dnsAnswer(Buffer.from([1, 2, 3]), 0);
  t.equal(bad.readUInt16BE(2) & 0x000f, 1, 'FORMERR for a malformed query');
});

t.test('HTTP-shaped responses carry the member tag at a fixed length', async (t) => {
  t.equal(response(memberTag(7)).length, RESPONSE_LENGTH);
  t.equal(tagIndex(responseTag(response(memberTag(7)))), 7);
  t.equal(tagIndex('zzzz'), -1);
});

const options = (check: CheckKind, protocol: 'tcp' | 'udp'): TargetOptions => ({
  services: [{ name: 'svc', protocol, check, members: [{ host: '127.0.0.1', port: 10001 }, { host: '127.0.0.1', port: 10002 }], udpResponses: 1 }],
  health: { intervalMs: 250, fastIntervalMs: 100, downIntervalMs: 250, timeoutMs: 200, rise: 2, fall: 2 },
  workers: 1,
  peerWorkers: 2,
  connectTimeoutMs: 1000,
  retries: 2,
  maxConnections: 9000,
  workDir: '/tmp',
});

t.test('the generated Switchyard config passes the real config loader', async (t) => {
  for (const [check, protocol] of [
    ['tcp', 'tcp'],
    ['http', 'tcp'],
    ['dns', 'udp'],
  ] as const) {
    const text = switchyardConfig(options(check, protocol), new Map([['svc', 20001]]), 20002);
    const { config, errors } = parseConfig(text, 'bench.yaml');
    t.same(errors.map(String), [], `${check}: no errors`);
    const s = config!.services[0]!;
    t.equal(s.protocol, protocol);
    t.equal(s.healthCheck.type, check);
    t.equal(s.healthCheck.interval, 250);
    t.equal(s.healthCheck.fastInterval, 100);
    t.equal(s.healthCheck.timeout, 200);
    t.equal(s.members.length, 2);
    t.equal(config!.workers, 1);
    t.equal(config!.admin?.listen.port, 20002);
  }
});

t.test('HAProxy: config accepted by haproxy -c where installed; servers state parsed', async (t) => {
  const text = haproxyConfig(options('http', 'tcp'), new Map([['svc', 20001]]), '/tmp/bench-test-haproxy.sock');
  t.match(text, /server m0 127\.0\.0\.1:10001 check inter 250ms fastinter 100ms downinter 250ms rise 2 fall 2/);
  t.match(text, /option httpchk GET \/ HTTP\/1\.0/);
  if (haproxy.missing()) {
    t.match(haproxy.missing()!, /not installed/, 'a missing HAProxy is said so');
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'bench-haproxy-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'h.cfg'), text);
    const r = spawnSync('/usr/sbin/haproxy', ['-c', '-f', join(dir, 'h.cfg')], { encoding: 'utf8' });
    t.equal(r.status, 0, `haproxy -c accepts it\n${r.stdout}${r.stderr}`);
  }
  const state = parseServersState(
    [
      '1',
      '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight',
      '3 b_svc 1 m0 127.0.0.1 2 0 1',
      '3 b_svc 2 m1 127.0.0.1 0 0 1',
      '3 b_svc 3 m2 127.0.0.1 2 8 1',
      '',
    ].join('\n'),
  );
  t.same(state, { b_svc: { m0: 'up', m1: 'down', m2: 'draining' } });
});

t.test('NGINX: config accepted by nginx -t where installed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = nginxConfig(options('dns', 'udp'), new Map([['svc', 20001]]), dir);
  t.match(text, /listen 127\.0\.0\.1:20001 udp;/);
  t.match(text, /max_fails=2 fail_timeout=1s;/);
  if (nginx.missing()) {
    t.match(nginx.missing()!, /nginx/, 'a missing NGINX (or its stream module) is said so');
    return;
  }
  writeFileSync(join(dir, 'n.conf'), text);
  const r = spawnSync('/usr/sbin/nginx', ['-t', '-p', dir, '-e', join(dir, 'e.log'), '-c', join(dir, 'n.conf')], { encoding: 'utf8' });
  t.equal(r.status, 0, `nginx -t accepts it\n${r.stdout}${r.stderr}`);
});

t.test('CPU table: the proxy CPU per operation where the load counts operations, none for bulk or direct', async (t) => {
  const run = (column: string, measurement: string, proxyCpuCores: number | null, ops: number): RunRecord => ({
    scenario: 's',
    column,
    measurement,
    repeat: 0,
    windowMs: 5000,
    generator: { processes: 1, cpuCores: 0.5, busiestProcessCores: 0.5 },
    proxyCpuCores,
    ops,
    errors: 0,
    errorKinds: {},
  });
  const report: ScenarioReport = {
    name: 's',
    title: 'a scenario',
    figures: [
      { scenario: 's', name: 'rate', unit: 'req/s', better: 'higher', ratio: true, values: { direct: 1e4, switchyard: 1e4 }, samples: {}, notes: {} },
    ],
    runs: [run('direct', 'rate', null, 50_000), run('switchyard', 'rate', 0.75, 50_000), run('switchyard', 'bulk', 0.8, 0)],
    timelines: [],
    configs: {},
    notes: [],
    durationMs: 0,
  };
  const text = markdown([report], ['direct', 'switchyard'], ['# t']);
  // 0.75 cores for 5 s over 50,000 operations: 75 µs each.
  t.match(text, /^\| rate \| gen 50% \[50%\] \| gen 50% \[50%\] · proxy 75% \(75\.0 µs\/op\) \|$/m);
  t.match(text, /^\| bulk \|  \| gen 50% \[50%\] · proxy 80% \|$/m, 'no operations counted: no per-operation figure');
});

t.test('connections per process: sockets counted from /proc, two per proxied connection, busiest first', async (t) => {
  // Counted in a plain Node child: the test runner's loader opens and closes sockets of its own here.
  const child = spawn(
    process.execPath,
    ['-e', `const net = require('node:net');
process.stdout.write('ready\\n');
process.stdin.once('data', () => {
  const server = net.createServer().listen(0, '127.0.0.1', () => {
    let ends = 0;
    const up = () => ++ends === 2 && process.stdout.write('connected\\n');
    server.once('connection', up);
    net.connect(server.address().port, '127.0.0.1').on('connect', up);
  });
});`],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  const said = async (word: string) => {
    while (!output.includes(word)) await once(child.stdout!, 'data');
  };
  await said('ready');
  const before = socketsPerProcess(child.pid!);
  t.ok(before.has(child.pid!), 'the process is in its own tree');
  child.stdin!.write('go\n');
  await said('connected');
  const during = socketsPerProcess(child.pid!);
  t.equal(during.get(child.pid!)! - before.get(child.pid!)!, 3, 'the listening socket and both ends of the connection');

  const idle = new Map([[1, 2], [2, 2], [3, 4]]);
  const busy = new Map([[1, 2], [2, 116], [3, 18], [4, 10]]);
  t.same(connectionsPerProcess(idle, busy), [57, 7, 5, 0], 'a process seen only under load counts from zero');
});

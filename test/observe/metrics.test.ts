import t from 'tap';
import { register as globalRegistry } from 'prom-client';
import { Member } from '../../src/pool/member.js';
import { connectionResult, Metrics } from '../../src/observe/metrics.js';
import { version } from '../../src/observe/version.js';
import { fakeService, memberConfig, sample, sessionRecord } from './fake-service.js';

const check = { source: 'check' as const, detail: 'connect refused' };

async function scrape(metrics: Metrics): Promise<string> {
  return (await metrics.render()).body;
}

t.test('member gauges follow the pool: up, one-hot state, weight, routing, mode', async (t) => {
  const svc = fakeService('pg', ['127.0.0.1:6001', '127.0.0.1:6002', ['127.0.0.1:6003', { backup: true, weight: 50 }]]);
  const metrics = new Metrics({ processMetrics: false });
  metrics.watch(svc);
  const [a, b, c] = svc.members;

  let text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_member_up', { service: 'pg', member: '127.0.0.1:6001' }), 1);
  t.equal(sample(text, 'switchyard_member_state', { service: 'pg', member: '127.0.0.1:6001', state: 'up' }), 1);
  t.equal(sample(text, 'switchyard_member_state', { service: 'pg', member: '127.0.0.1:6001', state: 'down' }), 0);
  t.equal(sample(text, 'switchyard_member_weight', { service: 'pg', member: '127.0.0.1:6003' }), 50);
  t.equal(sample(text, 'switchyard_member_routing', { service: 'pg', member: '127.0.0.1:6001' }), 1);
  t.equal(sample(text, 'switchyard_member_routing', { service: 'pg', member: '127.0.0.1:6003' }), 0, 'backup idle');
  t.equal(sample(text, 'switchyard_service_routing_mode', { service: 'pg', mode: 'primary' }), 1);

  a!.setFlag('failedCheck', true, check);
  b!.setFlag('failedCheck', true, check);
  text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_member_up', { service: 'pg', member: '127.0.0.1:6001' }), 0);
  t.equal(sample(text, 'switchyard_member_state', { service: 'pg', member: '127.0.0.1:6001', state: 'down' }), 1);
  t.equal(sample(text, 'switchyard_member_state', { service: 'pg', member: '127.0.0.1:6001', state: 'up' }), 0);
  t.equal(sample(text, 'switchyard_service_routing_mode', { service: 'pg', mode: 'backup' }), 1);
  t.equal(sample(text, 'switchyard_service_routing_mode', { service: 'pg', mode: 'primary' }), 0);
  t.equal(sample(text, 'switchyard_member_routing', { service: 'pg', member: '127.0.0.1:6003' }), 1, 'backup serves');

  c!.lastCheck = { at: Date.now(), ok: false, detail: 'timeout', durationMs: 250 };
  text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_member_last_check_success', { service: 'pg', member: '127.0.0.1:6003' }), 0);
  t.equal(sample(text, 'switchyard_member_last_check_duration_seconds', { service: 'pg', member: '127.0.0.1:6003' }), 0.25);
  t.equal(sample(text, 'switchyard_member_last_check_success', { service: 'pg', member: '127.0.0.1:6001' }), undefined, 'no check yet');
  t.equal(sample(text, 'switchyard_build_info', { version, node: process.version }), 1);
});

t.test('connections_total: ok when a member served, else the end reason; member "" when none', async (t) => {
  const svc = fakeService('web', ['127.0.0.1:7001', '127.0.0.1:7002']);
  const metrics = new Metrics({ processMetrics: false });
  metrics.watch(svc);
  const emit = (extra: Parameters<typeof sessionRecord>[1]) => svc.listener.emit('session-end', sessionRecord('web', extra));

  emit({ member: '127.0.0.1:7001', end: 'client-closed', durationMs: 1500 });
  emit({ member: '127.0.0.1:7001', end: 'member-closed', durationMs: 20 });
  emit({ member: '127.0.0.1:7002', end: 'member-down' });
  emit({ member: '127.0.0.1:7002', end: 'connect-failed', retries: 2 });
  emit({ member: undefined, end: 'no-member' });
  emit({ member: undefined, end: 'refused-acl' });
  emit({ member: undefined, end: 'refused-acl' });

  const text = await scrape(metrics);
  const conns = (member: string, result: string) => sample(text, 'switchyard_connections_total', { service: 'web', member, result });
  t.equal(conns('127.0.0.1:7001', 'ok'), 2);
  t.equal(conns('127.0.0.1:7002', 'ok'), 1);
  t.equal(conns('127.0.0.1:7002', 'connect-failed'), 1);
  t.equal(conns('', 'no-member'), 1);
  t.equal(conns('', 'refused-acl'), 2);
  t.equal(sample(text, 'switchyard_connection_duration_seconds_count', { service: 'web' }), 3, 'served connections only');
  t.equal(sample(text, 'switchyard_connection_duration_seconds_sum', { service: 'web' }), 1.5 + 0.02 + 0.012);
  t.equal(sample(text, 'switchyard_connection_duration_seconds_bucket', { service: 'web', le: '1' }), 2);

  t.equal(connectionResult(sessionRecord('x', { member: undefined, end: 'error' })), 'error');
  t.equal(connectionResult(sessionRecord('x', { member: 'm', end: 'error' })), 'ok');
  t.equal(connectionResult(sessionRecord('x', { member: 'm', end: 'proxy-header' })), 'proxy-header');
});

t.test('bytes and active connections are read from the members at scrape time', async (t) => {
  const svc = fakeService('pg', ['127.0.0.1:6001', '127.0.0.1:6002']);
  const metrics = new Metrics({ processMetrics: false });
  metrics.watch(svc);
  const [a, b] = svc.members;
  const bytes = (text: string, member: string, direction: string) =>
    sample(text, 'switchyard_bytes_total', { service: 'pg', member, direction });

  let text = await scrape(metrics);
  t.equal(bytes(text, '127.0.0.1:6001', 'in'), 0, 'series exist from the start');
  t.equal(sample(text, 'switchyard_connections_active', { service: 'pg', member: '127.0.0.1:6001' }), 0);

  a!.bytesIn += 100;
  a!.bytesOut += 4000;
  a!.active = 3;
  b!.bytesIn += 7;
  text = await scrape(metrics);
  t.equal(bytes(text, '127.0.0.1:6001', 'in'), 100);
  t.equal(bytes(text, '127.0.0.1:6001', 'out'), 4000);
  t.equal(bytes(text, '127.0.0.1:6002', 'in'), 7);
  t.equal(sample(text, 'switchyard_connections_active', { service: 'pg', member: '127.0.0.1:6001' }), 3);

  a!.bytesIn += 50;
  a!.active = 1;
  text = await scrape(metrics);
  t.equal(bytes(text, '127.0.0.1:6001', 'in'), 150, 'counter follows the member counter');
  t.equal(bytes(text, '127.0.0.1:6001', 'out'), 4000);
  t.equal(sample(text, 'switchyard_connections_active', { service: 'pg', member: '127.0.0.1:6001' }), 1);

  text = await scrape(metrics);
  t.equal(bytes(text, '127.0.0.1:6001', 'in'), 150, 'a scrape without traffic adds nothing');

  a!.ejections = 2;
  text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_member_ejections_total', { service: 'pg', member: '127.0.0.1:6001' }), 2);
});

t.test('transitions are counted once per real state change', async (t) => {
  const svc = fakeService('pg', ['127.0.0.1:6001', '127.0.0.1:6002'], { checked: true });
  const metrics = new Metrics({ processMetrics: false });
  metrics.watch(svc);
  const [a] = svc.members;
  const to = (text: string, state: string) =>
    sample(text, 'switchyard_member_transitions_total', { service: 'pg', member: '127.0.0.1:6001', to: state });

  a!.setFlag('pending', false, { source: 'check', detail: 'first check passed' });
  a!.setFlag('failedCheck', true, check);
  a!.setFlag('failedCheck', true, check); // no change: same flag again
  a!.setFlag('ejected', true, { source: 'outlier', detail: '5 connect failures' }); // still down
  a!.setFlag('failedCheck', false, { source: 'check', detail: 'ok' }); // still down: ejected
  a!.setFlag('ejected', false, { source: 'check', detail: 'readmitted' });
  a!.setFlag('adminMaint', true, { source: 'admin', detail: 'admin disable' });

  const text = await scrape(metrics);
  t.equal(to(text, 'up'), 2);
  t.equal(to(text, 'down'), 1);
  t.equal(to(text, 'disabled'), 1);
  t.equal(to(text, 'draining'), undefined);
  t.equal(
    sample(text, 'switchyard_member_transitions_total', { service: 'pg', member: '127.0.0.1:6002', to: 'up' }),
    undefined,
    'untouched member',
  );
});

t.test('connect failures, udp datagrams and drops, reroutes, connect times', async (t) => {
  const svc = fakeService('dns', ['127.0.0.1:5301', '127.0.0.1:5302'], { config: { protocol: 'udp' } });
  const metrics = new Metrics({ processMetrics: false });
  metrics.watch(svc);
  const [a, b] = svc.members;

  svc.listener.emit('connect-result', { member: a!, ok: false, error: 'refused', durationMs: 1 });
  svc.listener.emit('connect-result', { member: a!, ok: false, error: 'refused', durationMs: 1 });
  svc.listener.emit('connect-result', { member: b!, ok: false, error: 'timeout', durationMs: 2000 });
  svc.listener.emit('connect-result', { member: b!, ok: true, durationMs: 3 });
  svc.listener.emit('session-end', sessionRecord('dns', { protocol: 'udp', member: '127.0.0.1:5302', end: 'idle-timeout', datagramsIn: 4, datagramsOut: 3 }));
  svc.listener.emit('session-end', sessionRecord('dns', { protocol: 'udp', member: '127.0.0.1:5302', end: 'responses-done', datagramsIn: 1, datagramsOut: 1 }));
  svc.listener.emit('drop', { reason: 'max-sessions', bytes: 60 });
  svc.listener.emit('drop', { reason: 'max-sessions', bytes: 60 });
  svc.listener.emit('drop', { reason: 'no-member', bytes: 60 });
  svc.listener.emit('reroute', { from: a!, to: b! });

  const text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_connect_failures_total', { service: 'dns', member: '127.0.0.1:5301', error: 'refused' }), 2);
  t.equal(sample(text, 'switchyard_connect_failures_total', { service: 'dns', member: '127.0.0.1:5302', error: 'timeout' }), 1);
  t.equal(sample(text, 'switchyard_connect_duration_seconds_count', { service: 'dns' }), 1);
  t.equal(sample(text, 'switchyard_udp_datagrams_total', { service: 'dns', member: '127.0.0.1:5302', direction: 'in' }), 5);
  t.equal(sample(text, 'switchyard_udp_datagrams_total', { service: 'dns', member: '127.0.0.1:5302', direction: 'out' }), 4);
  t.equal(sample(text, 'switchyard_connections_total', { service: 'dns', member: '127.0.0.1:5302', result: 'ok' }), 2);
  t.equal(sample(text, 'switchyard_udp_drops_total', { service: 'dns', reason: 'max-sessions' }), 2);
  t.equal(sample(text, 'switchyard_udp_drops_total', { service: 'dns', reason: 'no-member' }), 1);
  t.equal(sample(text, 'switchyard_reroutes_total', { service: 'dns' }), 1);
});

t.test('members added and removed later; a removed member is read until its connections end', async (t) => {
  const svc = fakeService('pg', ['127.0.0.1:6001', '127.0.0.1:6002']);
  const metrics = new Metrics({ processMetrics: false });
  metrics.watch(svc);
  const [a, b] = svc.members;
  const added = new Member(memberConfig('127.0.0.1:6003'), { checked: false, slowStart: 0 });

  svc.pool.setMembers([a!, added]);
  added.bytesIn = 10; // relayed before any scrape saw it
  b!.bytesIn = 99;
  b!.active = 1; // still relaying after removal
  let text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_member_up', { service: 'pg', member: '127.0.0.1:6003' }), 1);
  t.equal(sample(text, 'switchyard_bytes_total', { service: 'pg', member: '127.0.0.1:6003', direction: 'in' }), 10);
  t.equal(sample(text, 'switchyard_member_up', { service: 'pg', member: '127.0.0.1:6002' }), undefined, 'gone from the pool');
  t.equal(sample(text, 'switchyard_connections_active', { service: 'pg', member: '127.0.0.1:6002' }), 1);
  t.equal(sample(text, 'switchyard_bytes_total', { service: 'pg', member: '127.0.0.1:6002', direction: 'in' }), 99);

  b!.bytesIn = 120;
  b!.active = 0;
  text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_bytes_total', { service: 'pg', member: '127.0.0.1:6002', direction: 'in' }), 120, 'last bytes counted');
  t.equal(sample(text, 'switchyard_connections_active', { service: 'pg', member: '127.0.0.1:6002' }), 0, 'last reading');
  text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_connections_active', { service: 'pg', member: '127.0.0.1:6002' }), undefined, 'then dropped');

  // Added and removed between two scrapes: its bytes still count.
  const brief = new Member(memberConfig('127.0.0.1:6004'), { checked: false, slowStart: 0 });
  svc.pool.setMembers([a!, added, brief]);
  brief.bytesOut = 33;
  svc.pool.setMembers([a!, added]);
  text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_bytes_total', { service: 'pg', member: '127.0.0.1:6004', direction: 'out' }), 33);
});

t.test('unwatch detaches and removes the service; a replacing service of the same name keeps the counters', async (t) => {
  const metrics = new Metrics({ processMetrics: false });
  const old = fakeService('pg', ['127.0.0.1:6001']);
  const other = fakeService('redis', ['127.0.0.1:6379']);
  metrics.watch(old);
  metrics.watch(other);
  old.listener.emit('session-end', sessionRecord('pg', { member: '127.0.0.1:6001', end: 'client-closed' }));
  old.members[0]!.bytesIn = 5;
  await scrape(metrics);

  // A reload replaces the service (new listener, new pool, same name) while the old one drains.
  const next = fakeService('pg', ['127.0.0.1:6001', '127.0.0.1:6002']);
  metrics.watch(next);
  old.listener.emit('session-end', sessionRecord('pg', { member: '127.0.0.1:6001', end: 'client-closed' }));
  next.listener.emit('session-end', sessionRecord('pg', { member: '127.0.0.1:6001', end: 'client-closed' }));
  next.members[0]!.bytesIn = 7;
  let text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_connections_total', { service: 'pg', member: '127.0.0.1:6001', result: 'ok' }), 3);
  t.equal(sample(text, 'switchyard_bytes_total', { service: 'pg', member: '127.0.0.1:6001', direction: 'in' }), 12);
  t.equal(sample(text, 'switchyard_member_up', { service: 'pg', member: '127.0.0.1:6002' }), 1);

  metrics.unwatch(old);
  old.listener.emit('session-end', sessionRecord('pg', { member: '127.0.0.1:6001', end: 'client-closed' }));
  t.equal(old.listener.listenerCount('session-end'), 0, 'old listener detached');
  t.equal(old.pool.listenerCount('state'), 0, 'old pool detached');
  text = await scrape(metrics);
  t.equal(sample(text, 'switchyard_connections_total', { service: 'pg', member: '127.0.0.1:6001', result: 'ok' }), 3);

  metrics.unwatch(next);
  text = await scrape(metrics);
  t.notMatch(text, /service="pg"/, 'no series left for pg');
  t.match(text, /service="redis"/, 'other services stay');
  t.equal(next.listener.listenerCount('session-end'), 0);

  metrics.close();
  t.equal(other.listener.listenerCount('session-end'), 0);
  text = await scrape(metrics);
  t.notMatch(text, /service="redis"/);
});

t.test('one registry per instance; process metrics carry the prefix; the global registry stays empty', async (t) => {
  const one = new Metrics();
  const two = new Metrics({ processMetrics: false });
  one.watch(fakeService('a', ['127.0.0.1:1001']));
  two.watch(fakeService('b', ['127.0.0.1:1002']));
  const first = await scrape(one);
  const second = await scrape(two);
  t.match(first, /service="a"/);
  t.notMatch(first, /service="b"/);
  t.notMatch(second, /service="a"/);
  t.match(first, /^switchyard_process_cpu_user_seconds_total /m);
  t.notMatch(second, /process_cpu/);
  const unprefixed = first.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('switchyard_'));
  t.same(unprefixed, [], 'every series starts with switchyard_');
  t.notMatch(await globalRegistry.metrics(), /switchyard_/);
  t.equal((await one.render()).contentType, one.registry.contentType);
});

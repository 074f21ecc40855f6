import t from 'tap';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { startAdmin, type AdminMemberAction, type AdminTarget } from '../../src/admin/server.js';
import { renderStatus, type Status } from '../../src/admin/status.js';
import { createLogger } from '../../src/observe/logger.js';
import { Metrics } from '../../src/observe/metrics.js';
import { version } from '../../src/observe/version.js';
import { fakeService, sample, type FakeService } from '../observe/fake-service.js';

t.test('renderStatus: services, routing mode and every member field', async (t) => {
  const svc = fakeService('pg', ['127.0.0.1:6001', ['[::1]:6002', { weight: 50 }], ['127.0.0.1:6003', { backup: true }]], {
    checked: true,
    config: { balance: 'leastconn' },
  });
  const [a, b] = svc.members;
  a!.setFlag('pending', false, { source: 'check', detail: 'ok' });
  a!.lastCheck = { at: Date.parse('2026-01-02T03:04:05.000Z'), ok: true, detail: 'connected', durationMs: 3 };
  a!.active = 2;
  a!.bytesIn = 10;
  a!.bytesOut = 20;
  b!.setFlag('pending', false, { source: 'check', detail: 'ok' });
  b!.setFlag('failedCheck', true, { source: 'check', detail: 'refused' });
  b!.setFlag('ejected', true, { source: 'outlier', detail: 'ejected' });
  b!.ejections = 1;
  svc.listener.activeCount = 3;

  const now = Date.now();
  const status = renderStatus([svc], now - 42_500, now);
  t.equal(status.version, version);
  t.equal(status.uptimeSeconds, 42);
  t.equal(status.services.length, 1);
  const s = status.services[0]!;
  t.match(s, { name: 'pg', protocol: 'tcp', listen: '127.0.0.1:0', balance: 'leastconn', check: 'tcp', mode: 'primary', active: 3 });
  t.same(s.members[0], {
    id: '127.0.0.1:6001',
    state: 'up',
    health: 'healthy',
    backup: false,
    routing: true,
    weight: 100,
    configWeight: 100,
    active: 2,
    bytesIn: 10,
    bytesOut: 20,
    since: new Date(a!.since).toISOString(),
    lastCheck: { at: '2026-01-02T03:04:05.000Z', ok: true, detail: 'connected', durationMs: 3 },
    ejections: 0,
  });
  t.match(s.members[1], { id: '[::1]:6002', state: 'down', health: '/failedCheck/ejected', routing: false, weight: 50, configWeight: 50, ejections: 1, lastCheck: null });
  t.match(s.members[2], { id: '127.0.0.1:6003', state: 'unknown', health: '/pending', backup: true, routing: false });
  t.doesNotThrow(() => JSON.stringify(status));

  await svc.listener.listen();
  t.equal(renderStatus([svc]).services[0]!.listen, '127.0.0.1:40123', 'the bound address once listening');
  t.ok(renderStatus([]).uptimeSeconds >= 0, 'defaults to process uptime');
});

t.test('renderStatus: effective weight during slow start is rounded', async (t) => {
  const svc = fakeService('pg', [['127.0.0.1:6001', { weight: 3 }]], { checked: true, config: { slowStart: 60_000 } });
  const [a] = svc.members;
  a!.setFlag('failedCheck', true, { source: 'check', detail: 'down' });
  a!.setFlag('pending', false, { source: 'check', detail: 'checked' });
  a!.setFlag('failedCheck', false, { source: 'check', detail: 'up again' });
  const m = renderStatus([svc]).services[0]!.members[0]!;
  t.equal(m.state, 'up');
  t.equal(m.configWeight, 3);
  t.ok(m.weight > 0 && m.weight < 3, `ramping: ${m.weight}`);
  t.equal(m.weight, Math.round(m.weight * 100) / 100, 'two decimals at most');
});

/** The balancer's part, over fake services: what src/balancer.ts does with real ones. */
class ServicesTarget implements AdminTarget {
  readonly metricsRegistry = new Metrics({ processMetrics: false });
  readonly services: Map<string, FakeService>;
  constructor(services: Map<string, FakeService>) {
    this.services = services;
    for (const s of services.values()) this.metricsRegistry.watch(s);
  }
  status(): unknown {
    return renderStatus(this.services.values());
  }
  memberAction(service: string, member: string, action: AdminMemberAction): 'ok' | 'no-service' | 'no-member' {
    const m = this.services.get(service)?.pool.get(member);
    if (!this.services.has(service)) return 'no-service';
    if (!m) return 'no-member';
    const cause = { source: 'admin' as const, detail: `admin ${action}` };
    if (action === 'drain') m.setFlag('adminDrain', true, cause);
    else if (action === 'disable') m.setFlag('adminMaint', true, cause);
    else {
      m.setFlag('adminMaint', false, cause);
      m.setFlag('adminDrain', false, cause);
    }
    return 'ok';
  }
  async reload(): Promise<{ ok: boolean }> {
    return { ok: true };
  }
  metrics(): Promise<{ contentType: string; body: string }> {
    return this.metricsRegistry.render();
  }
}

function get(port: number, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

t.test('over HTTP: an admin drain shows in /status and /metrics', async (t) => {
  const svc = fakeService('pg', ['127.0.0.1:6001', '[::1]:6002']);
  const target = new ServicesTarget(new Map([['pg', svc]]));
  const logger = createLogger({ level: 'info', destination: new Writable({ write: (_c: Buffer, _e, done) => done() }) });
  const server = await startAdmin({ listen: { host: '127.0.0.1', port: 0 } }, target, logger);
  t.teardown(() => server.close());
  const { port } = server.address();

  const drain = await get(port, 'POST', '/services/pg/members/%5B%3A%3A1%5D%3A6002/drain');
  t.equal(drain.status, 200);
  const status = JSON.parse((await get(port, 'GET', '/status')).body) as Status;
  t.match(status.services[0]!.members[1], { id: '[::1]:6002', state: 'draining', health: '/adminDrain', routing: false });

  const metrics = (await get(port, 'GET', '/metrics')).body;
  t.equal(sample(metrics, 'switchyard_member_state', { service: 'pg', member: '[::1]:6002', state: 'draining' }), 1);
  t.equal(sample(metrics, 'switchyard_member_up', { service: 'pg', member: '[::1]:6002' }), 0);
  t.equal(sample(metrics, 'switchyard_member_transitions_total', { service: 'pg', member: '[::1]:6002', to: 'draining' }), 1);

  t.equal((await get(port, 'POST', '/services/pg/members/[::1]:6002/enable')).status, 200);
  const after = JSON.parse((await get(port, 'GET', '/status')).body) as Status;
  t.equal(after.services[0]!.members[1]!.state, 'up');
});

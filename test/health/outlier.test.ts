import { EventEmitter, once } from 'node:events';
import { createServer } from 'node:net';
import t, { type Test } from 'tap';
import type { OutlierConfig } from '../../src/config/types.js';
import { HealthChecker } from '../../src/health/checker.js';
import { OutlierDetector } from '../../src/health/outlier.js';
import { Member, type StateChange } from '../../src/pool/member.js';
import type { ConnectResult, Listener, ListenerEvents } from '../../src/proxy/types.js';
import { checkConfig } from '../helpers/probe-check.js';
import { refusingPort } from '../helpers/backends.js';

t.setTimeout(60_000);

let nextHost = 1;
function member(port = 5432): Member {
  const host = `127.0.0.${nextHost++}`;
  return new Member(
    { address: { host, port }, id: `${host}:${port}`, weight: 100, backup: false, maxConnections: 0 },
    { checked: false, slowStart: 0 },
  );
}

const config = (o: Partial<OutlierConfig> = {}): OutlierConfig => ({
  consecutiveFailures: 3,
  ejectTime: 10_000,
  maxEjectTime: 60_000,
  maxEjectedPercent: 100,
  ...o,
});

function detector(tt: Test, c: OutlierConfig, members: Member[]): OutlierDetector {
  const d = new OutlierDetector(c, members);
  tt.teardown(() => d.stop());
  return d;
}

const fail = (member: Member, error = 'refused'): ConnectResult => ({ member, ok: false, error, durationMs: 1 });
const ok = (member: Member): ConnectResult => ({ member, ok: true, durationMs: 1 });

/** Resolves with the member's next state change, and when it came. */
function nextState(m: Member, ms = 5000): Promise<StateChange & { at: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no state change within ${ms}ms`)), ms);
    m.once('state', (ev) => {
      clearTimeout(timer);
      resolve({ ...ev, at: performance.now() });
    });
  });
}

t.test('consecutive failed connects eject the member, naming the failures', async (t) => {
  const m = member();
  const d = detector(t, config(), [m, member()]);
  const changes: StateChange[] = [];
  m.on('state', (ev) => changes.push(ev));
  d.observe(fail(m));
  d.observe(fail(m, 'timeout'));
  t.equal(m.state, 'up');
  d.observe(fail(m));
  t.equal(m.state, 'down');
  t.ok(m.has('ejected'));
  t.equal(m.ejections, 1);
  t.equal(changes.length, 1);
  t.equal(changes[0]!.cause.source, 'outlier');
  t.match(changes[0]!.cause.detail, /^3 consecutive connect failures \(refused, timeout\); out for 10\d{3}ms$/);
});

t.test('a success resets the count', async (t) => {
  const m = member();
  const d = detector(t, config(), [m]);
  for (const r of [fail(m), fail(m), ok(m), fail(m), fail(m), ok(m), fail(m), fail(m)]) d.observe(r);
  t.equal(m.state, 'up');
});

t.test('an ejected member returns after ejectTime, with a little jitter', async (t) => {
  const m = member();
  const d = detector(t, config({ ejectTime: 200 }), [m]);
  for (let i = 0; i < 3; i++) d.observe(fail(m));
  const ejectedAt = performance.now();
  const back = await nextState(m);
  const took = back.at - ejectedAt;
  t.equal(back.to, 'up');
  t.match(back.cause.detail, /^ejection of 2\d\dms ended$/);
  t.ok(took >= 195 && took < 200 * 1.1 + 150, `back after ${Math.round(took)}ms`);
  t.notOk(m.has('ejected'));
});

t.test('repeat ejections double the time, up to maxEjectTime', async (t) => {
  const m = member();
  const d = detector(t, config({ ejectTime: 100, maxEjectTime: 300 }), [m]);
  const times: number[] = [];
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 3; i++) d.observe(fail(m));
    const from = performance.now();
    t.equal(m.state, 'down');
    await nextState(m);
    times.push(performance.now() - from);
  }
  t.same(
    times.map((x, i) => {
      const base = [100, 200, 300, 300][i]!;
      return x >= base - 5 && x < base * 1.1 + 150;
    }),
    [true, true, true, true],
    `ejection times ${times.map(Math.round).join(', ')}ms for 100, 200, 300 (cap), 300 (cap)`,
  );
  t.equal(m.ejections, 4);
});

t.test('a member that stays in for maxEjectTime has its ejections forgotten', async (t) => {
  const m = member();
  const d = detector(t, config({ ejectTime: 50, maxEjectTime: 150 }), [m]);
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 3; i++) d.observe(fail(m));
    await nextState(m);
  }
  t.equal(m.ejections, 2);
  await until(() => m.ejections === 0, 1000);
  for (let i = 0; i < 3; i++) d.observe(fail(m));
  t.equal(m.ejections, 1, 'the next ejection is a first one again');
});

t.test('never more than maxEjectedPercent of the members at once', async (t) => {
  const ms = [member(), member(), member(), member()];
  const d = detector(t, config({ ejectTime: 200, maxEjectedPercent: 50 }), ms);
  for (const m of ms) for (let i = 0; i < 3; i++) d.observe(fail(m));
  t.same(ms.map((m) => m.has('ejected')), [true, true, false, false], '2 of 4 at 50%');
  // When one returns, the next failure of a member past its threshold ejects it.
  await nextState(ms[0]!);
  d.observe(fail(ms[2]!));
  t.equal(ms[2]!.has('ejected'), true);
});

t.test('maxEjectedPercent rounds down: 50% of 2 is 1, 50% of 1 is none', async (t) => {
  const two = [member(), member()];
  const d2 = detector(t, config({ maxEjectedPercent: 50 }), two);
  for (const m of two) for (let i = 0; i < 3; i++) d2.observe(fail(m));
  t.equal(two.filter((m) => m.has('ejected')).length, 1);

  const one = member();
  const d1 = detector(t, config({ maxEjectedPercent: 50 }), [one]);
  for (let i = 0; i < 5; i++) d1.observe(fail(one));
  t.equal(one.has('ejected'), false);
});

t.test('consecutiveFailures 0 turns detection off; failures while ejected do not count', async (t) => {
  const m = member();
  const off = detector(t, config({ consecutiveFailures: 0 }), [m]);
  for (let i = 0; i < 20; i++) off.observe(fail(m));
  t.equal(m.state, 'up');

  const n = member();
  const d = detector(t, config({ ejectTime: 100 }), [n]);
  for (let i = 0; i < 3; i++) d.observe(fail(n));
  // Connects already under way when it was ejected report late; they must not extend or repeat the ejection.
  for (let i = 0; i < 10; i++) d.observe(fail(n));
  t.equal(n.ejections, 1);
  await nextState(n);
  d.observe(fail(n));
  d.observe(fail(n));
  t.equal(n.state, 'up', 'the count starts afresh after a return');
});

t.test('a passing active check readmits an ejected member at once; a failing one does not', async (t) => {
  const server = createServer((s) => s.on('error', () => {}).resume());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const { port: refused } = await refusingPort(t);

  const good = new Member({ address: { host: '127.0.0.1', port }, id: 'good', weight: 1, backup: false, maxConnections: 0 }, { checked: false, slowStart: 0 });
  const bad = new Member({ address: { host: '127.0.0.1', port: refused }, id: 'bad', weight: 1, backup: false, maxConnections: 0 }, { checked: false, slowStart: 0 });
  const d = detector(t, config({ ejectTime: 30_000 }), [good, bad]);
  for (const m of [good, bad]) for (let i = 0; i < 3; i++) d.observe(fail(m));
  t.ok(good.has('ejected') && bad.has('ejected'));

  const checker = new HealthChecker(checkConfig('tcp', { interval: 50, fastInterval: 50, downInterval: 50, jitter: 0, fall: 5 }), [good, bad]);
  t.teardown(() => checker.stop());
  d.attachChecker(checker);
  const back = nextState(good);
  const started = performance.now();
  checker.start();
  const ev = await back;
  t.ok(performance.now() - started < 1000, 'readmitted on the first passing check');
  t.equal(ev.to, 'up');
  t.equal(ev.cause.source, 'outlier');
  t.match(ev.cause.detail, /^passing active check: tcp: connected in /);
  // Several failing checks later the other member is still ejected.
  await new Promise<void>((resolve) => {
    let n = 0;
    checker.on('result', (r) => r.member === bad && ++n === 3 && resolve());
  });
  t.ok(bad.has('ejected'));
});

t.test('watch() follows a listener\'s connect results; stop() lets go of it and of every timer', async (t) => {
  const listener = new EventEmitter<ListenerEvents>() as unknown as Listener;
  const m = member();
  const d = new OutlierDetector(config({ ejectTime: 100 }), [m]);
  d.watch(listener);
  for (let i = 0; i < 3; i++) listener.emit('connect-result', fail(m));
  t.ok(m.has('ejected'));
  d.stop();
  t.equal(listener.listenerCount('connect-result'), 0);
  const n = member();
  d.setMembers([n]);
  for (let i = 0; i < 3; i++) listener.emit('connect-result', fail(n));
  t.notOk(n.has('ejected'), 'no longer listening');
  // The return timer went with stop(): the member stays out past its ejection time.
  await new Promise((r) => setTimeout(r, 250));
  t.ok(m.has('ejected'), 'stop() leaves the flag for a successor to adopt');
});

t.test('a successor detector adopts an ejected member and returns it on time', async (t) => {
  const m = member();
  const first = new OutlierDetector(config({ ejectTime: 150 }), [m]);
  for (let i = 0; i < 3; i++) first.observe(fail(m));
  first.stop();
  const from = performance.now();
  detector(t, config({ ejectTime: 150 }), [m]);
  const back = await nextState(m);
  const took = back.at - from;
  t.equal(back.to, 'up');
  t.ok(took >= 145 && took < 150 * 1.1 + 150, `back after ${Math.round(took)}ms`);
});

t.test('setConfig with detection off readmits; setMembers keeps counts of kept members', async (t) => {
  const a = member();
  const b = member();
  const d = detector(t, config(), [a, b]);
  for (let i = 0; i < 3; i++) d.observe(fail(a));
  d.observe(fail(b));
  d.observe(fail(b));
  d.setMembers([a, b, member()]);
  d.observe(fail(b));
  t.ok(b.has('ejected'), 'the third failure counted across setMembers');
  d.setConfig(config({ consecutiveFailures: 0 }));
  t.notOk(a.has('ejected'));
  t.notOk(b.has('ejected'));
});

t.test('results for members the detector does not hold are ignored', async (t) => {
  const stranger = member();
  const d = detector(t, config({ consecutiveFailures: 1 }), [member()]);
  d.observe(fail(stranger));
  t.equal(stranger.state, 'up');
});

async function until(test: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

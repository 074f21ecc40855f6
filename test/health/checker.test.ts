import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import type { HealthCheckConfig } from '../../src/config/types.js';
import { HealthChecker, jittered, type CheckEvent } from '../../src/health/checker.js';
import type { Probe } from '../../src/health/probes/types.js';
import { Member, type StateChange } from '../../src/pool/member.js';
import { checkConfig } from '../helpers/probe-check.js';
import { refusingPort } from '../helpers/backends.js';

t.setTimeout(60_000);

type Mode = 'pass' | 'fail' | 'hang';

/**
 * A member we can make healthy, failing or hung: it answers PING with +PONG,
 * or -ERR and a close, or accepts and never answers. `open` counts its connections.
 */
async function backend(tt: Test, mode: Mode = 'pass') {
  const state = { mode, open: 0, accepted: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    state.accepted++;
    state.open++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => {
      state.open--;
      sockets.delete(s);
    });
    s.on('data', () => {
      if (state.mode === 'pass') s.write('+PONG\r\n');
      else if (state.mode === 'fail') s.end('-ERR not ready\r\n');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  tt.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return Object.assign(state, { port: (server.address() as { port: number }).port });
}

function member(port: number, checked = true): Member {
  return new Member(
    { address: { host: '127.0.0.1', port }, id: `127.0.0.1:${port}`, weight: 100, backup: false, maxConnections: 0 },
    { checked, slowStart: 0 },
  );
}

const ping = (o: Partial<HealthCheckConfig> = {}): HealthCheckConfig =>
  checkConfig('send-expect', {
    steps: [{ send: Buffer.from('PING\r\n'), expect: { kind: 'string', value: '+PONG' } }],
    interval: 100,
    fastInterval: 50,
    downInterval: 100,
    timeout: 1000,
    rise: 2,
    fall: 2,
    jitter: 0,
    ...o,
  });

/** A started checker, stopped when the test ends; results and state changes are recorded with their times. */
function run(tt: Test, check: HealthCheckConfig, members: Member[], opts: { probe?: Probe } = {}) {
  const checker = new HealthChecker(check, members, opts);
  const results: Array<CheckEvent & { at: number }> = [];
  const states: Array<StateChange & { at: number }> = [];
  checker.on('result', (ev) => results.push({ ...ev, at: performance.now() }));
  for (const m of members) m.on('state', (ev) => states.push({ ...ev, at: performance.now() }));
  tt.teardown(() => checker.stop());
  checker.start();
  return { checker, results, states };
}

/** Resolves with the first result for which `test` holds (it sees each result once it is applied). */
function resultWhere(checker: HealthChecker, test: (ev: CheckEvent) => boolean, ms = 5000): Promise<CheckEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      checker.off('result', on);
      reject(new Error(`no such result within ${ms}ms`));
    }, ms);
    const on = (ev: CheckEvent) => {
      if (!test(ev)) return;
      clearTimeout(timer);
      checker.off('result', on);
      resolve(ev);
    };
    checker.on('result', on);
  });
}

function gaps(times: number[]): number[] {
  return times.slice(1).map((x, i) => x - times[i]!);
}

t.test('the first result decides at once: a pass makes the member up', async (t) => {
  const b = await backend(t);
  const m = member(b.port);
  t.equal(m.state, 'unknown');
  const started = performance.now();
  const { checker, states } = run(t, ping({ interval: 5000 }), [m]);
  const ev = await resultWhere(checker, () => true);
  t.ok(performance.now() - started < 1000, 'the first check comes promptly, not after the interval');
  t.equal(ev.result.ok, true);
  t.equal(m.state, 'up');
  t.same(states.map((s) => [s.from, s.to]), [['unknown', 'up']]);
  t.equal(states[0]!.cause.source, 'check');
  t.equal(states[0]!.cause.detail, 'send-expect: got "+PONG\\r\\n" (first check)');
  t.equal(m.lastCheck?.ok, true);
  t.equal(m.lastCheck?.detail, 'got "+PONG\\r\\n"');
  t.ok(m.lastCheck!.durationMs >= 0 && m.lastCheck!.durationMs < 1000);
});

t.test('the first result decides at once: a failure makes the member down, never passing through up', async (t) => {
  const b = await backend(t, 'fail');
  const m = member(b.port);
  const { checker, states } = run(t, ping({ interval: 5000 }), [m]);
  await resultWhere(checker, () => true);
  t.equal(m.state, 'down');
  t.same(states.map((s) => [s.from, s.to]), [['unknown', 'down']]);
  t.match(states[0]!.cause.detail, /^send-expect: connection closed by member: expected "\+PONG", got "-ERR not ready\\r\\n" \(first check\)$/);
  t.ok(m.has('failedCheck'));
  t.notOk(m.has('pending'));
});

t.test('first checks of many members are spread, not all in the same millisecond, and all prompt', async (t) => {
  const b = await backend(t);
  const ms = Array.from({ length: 20 }, () => member(b.port));
  const started = performance.now();
  const { checker, results } = run(t, ping({ interval: 5000 }), ms);
  await new Promise<void>((resolve) => checker.on('result', () => results.length === ms.length && resolve()));
  const times = results.map((r) => r.at - started);
  t.ok(Math.max(...times) < 1000, `all first checks within 1s (last at ${Math.round(Math.max(...times))}ms)`);
  t.ok(new Set(times.map((x) => Math.round(x))).size > 1, 'not all at once');
  t.ok(ms.every((m) => m.state === 'up'), results.map((r) => `${r.result.detail} at ${Math.round(r.at - started)}ms`).join('; '));
});

t.test('fall consecutive failures take a member down; rise consecutive passes bring it back', async (t) => {
  const b = await backend(t);
  const m = member(b.port);
  const { checker } = run(t, ping({ rise: 3, fall: 3 }), [m]);
  await resultWhere(checker, () => m.state === 'up');

  b.mode = 'fail';
  const seen: string[] = [];
  const counted = new Promise<void>((resolve) =>
    checker.on('result', (ev) => {
      seen.push(`${ev.result.ok ? 'pass' : 'fail'}:${m.state}`);
      if (seen.length === 6) resolve();
      if (seen.length === 3) b.mode = 'pass';
    }),
  );
  const causes: string[] = [];
  m.on('state', (ev) => causes.push(`${ev.to}: ${ev.cause.detail}`));
  await counted;
  t.same(seen, ['fail:up', 'fail:up', 'fail:down', 'pass:down', 'pass:down', 'pass:up']);
  t.equal(causes.length, 2);
  t.match(causes[0], /^down: send-expect: connection closed by member: expected "\+PONG", got "-ERR not ready\\r\\n" \(3 of fall 3\)$/);
  t.equal(causes[1], 'up: send-expect: got "+PONG\\r\\n" (3 of rise 3)');
});

t.test('a success in between resets the count towards fall', async (t) => {
  const b = await backend(t);
  const m = member(b.port);
  const { checker } = run(t, ping({ fall: 2 }), [m]);
  await resultWhere(checker, () => m.state === 'up');
  // fail, pass, fail, pass, ...: never two in a row, never down.
  let n = 0;
  const done = new Promise<void>((resolve) =>
    checker.on('result', () => {
      n++;
      b.mode = n % 2 === 1 ? 'pass' : 'fail';
      if (n === 8) resolve();
    }),
  );
  b.mode = 'fail';
  const downs: StateChange[] = [];
  m.on('state', (ev) => downs.push(ev));
  await done;
  t.equal(downs.length, 0);
  t.equal(m.state, 'up');
});

t.test('intervals: interval while stable, fastInterval while changing, downInterval while down', async (t) => {
  const b = await backend(t);
  const m = member(b.port);
  const check = ping({ interval: 1000, fastInterval: 60, downInterval: 3000, rise: 3, fall: 3, jitter: 0 });
  const { checker, results } = run(t, check, [m]);
  // Stable up: 3 results; then failing: 3 results (the 3rd takes it down); down: 2 failing; then rising: 3 passes.
  await resultWhere(checker, () => results.length === 3);
  b.mode = 'fail';
  await resultWhere(checker, () => m.state === 'down');
  const downAt = results.length;
  await resultWhere(checker, () => results.length === downAt + 2, 10_000);
  b.mode = 'pass';
  await resultWhere(checker, () => m.state === 'up', 10_000);

  // The wait after each result, as rise/fall 3 make it: replay the results' ok flags.
  const phaseAfter: Array<'interval' | 'fast' | 'down'> = [];
  let down = false;
  let fails = 0;
  let passes = 0;
  for (const r of results) {
    if (r.result.ok) {
      fails = 0;
      if (down && ++passes >= 3) {
        down = false;
        passes = 0;
      }
    } else {
      passes = 0;
      if (!down && ++fails >= 3) {
        down = true;
        fails = 0;
      }
    }
    phaseAfter.push(down ? (passes > 0 ? 'fast' : 'down') : fails > 0 ? 'fast' : 'interval');
  }
  const g = gaps(results.map((r) => r.at));
  const want = { interval: 1000, fast: 60, down: 3000 };
  // Each gap stays below the next longer wait: a timer late on a busy machine passes, a wrong phase does
  // not. The waits are far apart because a gap also holds the check itself: 339 ms for a 60 ms wait with
  // two suites running at once.
  const below = { fast: 990, interval: 2990, down: 4500 };
  const seenPhases = new Set<string>();
  g.forEach((gap, i) => {
    const p = phaseAfter[i]!;
    seenPhases.add(p);
    t.ok(gap >= want[p] - 5 && gap < below[p], `gap ${i} after a ${results[i]!.result.ok ? 'pass' : 'failure'}: ${Math.round(gap)}ms, want ~${want[p]}ms (${p})`);
  });
  t.same([...seenPhases].sort(), ['down', 'fast', 'interval']);
});

t.test('jitter moves each wait by at most ± its fraction, and does move it', async (t) => {
  const samples = Array.from({ length: 2000 }, () => jittered(1000, 0.2));
  t.ok(Math.min(...samples) >= 800, `min ${Math.min(...samples)}`);
  t.ok(Math.max(...samples) <= 1200, `max ${Math.max(...samples)}`);
  t.ok(Math.min(...samples) < 850 && Math.max(...samples) > 1150, 'spread over the range');
  t.equal(jittered(1000, 0), 1000);

  const b = await backend(t);
  const m = member(b.port);
  const { checker, results } = run(t, ping({ interval: 100, jitter: 0.5 }), [m]);
  await resultWhere(checker, () => results.length === 12);
  const g = gaps(results.map((r) => r.at));
  t.ok(g.every((x) => x >= 45 && x < 150 + 150), `live gaps within 100ms ± 50%: ${g.map(Math.round).join(' ')}`);
  t.ok(Math.max(...g) - Math.min(...g) > 5, 'live gaps differ');
});

t.test('a hung member is marked down within fall × (interval + timeout), with the timeout as the cause', async (t) => {
  const b = await backend(t);
  const m = member(b.port);
  const check = ping({ interval: 200, fastInterval: 100, timeout: 150, fall: 2, jitter: 0.1 });
  const { checker } = run(t, check, [m]);
  await resultWhere(checker, () => m.state === 'up');
  b.mode = 'hang';
  const hungAt = performance.now();
  const down = await resultWhere(checker, () => m.state === 'down', 5000);
  const took = performance.now() - hungAt;
  const bound = check.fall * (check.interval * (1 + check.jitter) + check.timeout) + 300;
  t.ok(took < bound, `down after ${Math.round(took)}ms (bound ${bound}ms)`);
  t.equal(down.result.detail, 'timeout after 150ms: expected "+PONG", got nothing');
  t.ok(down.durationMs >= 145 && down.durationMs < 500, `a timed-out check lasts about the timeout: ${down.durationMs}ms`);
  // Every hung check's socket is closed: at most the one under way stays open.
  await until(() => b.open <= 1);
});

t.test('a hung member holds up nobody else', async (t) => {
  const good = await backend(t);
  const hung = await backend(t, 'hang');
  const a = member(good.port);
  const h = member(hung.port);
  const { checker, results } = run(t, ping({ interval: 50, timeout: 1000 }), [a, h]);
  await resultWhere(checker, () => results.filter((r) => r.member === a).length >= 8, 3000);
  t.equal(a.state, 'up');
  t.equal(h.state, 'unknown', 'the hung member is still on its first check');
  t.equal(results.filter((r) => r.member === h).length, 0);
});

t.test('a probe that ignores its abort still fails at the timeout, and never runs twice at once', async (t) => {
  const m = member(1);
  let running = 0;
  let most = 0;
  let calls = 0;
  const stuck: Probe = () => {
    calls++;
    running++;
    most = Math.max(most, running);
    // Settles only long after its timeout, ignoring the signal.
    return new Promise((resolve) =>
      setTimeout(() => {
        running--;
        resolve({ ok: true, detail: 'late' });
      }, 400),
    );
  };
  const { checker, results } = run(t, ping({ interval: 20, fastInterval: 20, downInterval: 20, timeout: 100 }), [m], { probe: stuck });
  await resultWhere(checker, () => results.length === 6, 5000);
  t.equal(most, 1, 'one probe at a time');
  t.ok(calls < results.length, 'rounds while the last probe ran were not started');
  t.equal(results[0]!.result.detail, 'timeout after 100ms');
  t.ok(results[0]!.durationMs >= 95 && results[0]!.durationMs < 300);
  t.ok(results.some((r) => r.result.detail === 'previous check still running'));
  t.equal(m.state, 'down');
});

t.test('a probe that throws or rejects fails the check instead of stopping it', async (t) => {
  const m = member(1);
  let n = 0;
  const bad: Probe = () => {
    if (++n % 2) throw new Error('sync boom');
    return Promise.reject(new Error('async boom'));
  };
  const { checker, results } = run(t, ping({ interval: 20, fastInterval: 20, downInterval: 20 }), [m], { probe: bad });
  await resultWhere(checker, () => results.length === 4);
  t.same(results.map((r) => r.result.detail), ['sync boom', 'async boom', 'sync boom', 'async boom']);
});

t.test('check.port: the probe goes to that port, not the member\'s', async (t) => {
  const b = await backend(t);
  const { port: closedPort } = await refusingPort(t);
  const m = member(closedPort);
  const { checker } = run(t, checkConfig('tcp', { port: b.port, interval: 5000 }), [m]);
  const ev = await resultWhere(checker, () => true);
  t.equal(ev.result.ok, true, ev.result.detail);
  t.equal(m.state, 'up');
});

t.test('agent replies set weight, drain and maintenance on the member', async (t) => {
  let reply = 'up 50%';
  const server = createServer((s) => {
    s.on('error', () => {});
    s.end(reply + '\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const agentPort = (server.address() as { port: number }).port;
  // The member's own port does not matter: the agent has a port of its own.
  const m = member((await refusingPort(t)).port);
  const { checker } = run(t, checkConfig('agent', { port: agentPort, interval: 30, fastInterval: 30, downInterval: 30, rise: 1, fall: 1, jitter: 0 }), [m]);
  const causes: string[] = [];
  m.on('state', (ev) => causes.push(`${ev.to} ${ev.cause.source}: ${ev.cause.detail}`));

  await resultWhere(checker, () => m.state === 'up');
  t.equal(m.agentPercent, 50);
  t.equal(m.weight(), 50);

  reply = 'drain';
  await resultWhere(checker, () => m.state === 'draining');
  t.ok(m.has('agentDrain'));
  t.equal(m.agentPercent, 50, 'a reply without a weight leaves the weight');

  reply = 'maint 100%';
  await resultWhere(checker, () => m.state === 'disabled');
  t.ok(m.has('agentMaint'));
  t.notOk(m.has('agentDrain'), 'maint replaces drain');
  t.equal(m.agentPercent, 100);

  reply = 'ready';
  await resultWhere(checker, () => m.state === 'up');
  t.notOk(m.has('agentMaint'));

  reply = 'down#maintenance window';
  await resultWhere(checker, () => m.state === 'down');
  t.ok(m.has('failedCheck'));

  t.same(causes, [
    'up check: agent: agent says "up 50%" (first check)',
    'draining agent: agent: agent says "drain"',
    'disabled agent: agent: agent says "maint 100%"',
    'up agent: agent: agent says "ready"',
    'down check: agent: agent says "down#maintenance window" (1 of fall 1)',
  ]);
});

t.test('setMembers: kept members keep their counts, new ones are checked promptly, removed ones no more', async (t) => {
  const b = await backend(t);
  const kept = member(b.port);
  const removed = member(b.port);
  const { checker, results } = run(t, ping({ fall: 3, interval: 50, fastInterval: 50 }), [kept, removed]);
  await resultWhere(checker, () => kept.state === 'up' && removed.state === 'up');
  b.mode = 'fail';
  await resultWhere(checker, (ev) => ev.member === kept && !ev.result.ok);
  await resultWhere(checker, (ev) => ev.member === kept && !ev.result.ok);
  const added = member(b.port);
  checker.setMembers([kept, added]);
  const third = await resultWhere(checker, (ev) => ev.member === kept);
  t.equal(third.result.ok, false);
  t.equal(kept.state, 'down', 'the third failure in a row counts, across setMembers');
  await resultWhere(checker, (ev) => ev.member === added);
  t.equal(added.state, 'down');
  const since = results.length;
  await resultWhere(checker, () => results.length >= since + 4);
  t.notOk(results.slice(since).some((r) => r.member === removed), 'no results for a removed member');
});

t.test('stop() ends every timer and socket; a check under way is abandoned', async (t) => {
  const b = await backend(t, 'hang');
  const ms = [member(b.port), member(b.port), member(b.port)];
  const before = countResources();
  const { checker, results } = run(t, ping({ timeout: 5000 }), ms);
  await until(() => b.open === 3);
  checker.stop();
  t.equal(checker.running, false);
  await until(() => b.open === 0);
  await new Promise((r) => setTimeout(r, 50));
  const after = countResources();
  // Earlier tests' sockets may still be closing when `before` is taken: none may be added.
  t.ok((after.Timeout ?? 0) <= (before.Timeout ?? 0), 'no timers left');
  t.ok((after.TCPSocketWrap ?? 0) <= (before.TCPSocketWrap ?? 0), 'no sockets left');
  t.equal(results.length, 0, 'an abandoned check reports nothing');
  t.ok(ms.every((m) => m.state === 'unknown'), 'flags stay as they were');
});

t.test('stop({ release }) clears the flags the checker owns', async (t) => {
  const b = await backend(t, 'fail');
  const m = member(b.port);
  const { checker } = run(t, ping(), [m]);
  await resultWhere(checker, () => m.state === 'down');
  checker.stop({ release: true });
  t.equal(m.state, 'up');
  t.equal(m.flags.size, 0);
});

t.test('type none runs no checker', async (t) => {
  t.throws(() => new HealthChecker(checkConfig('none'), []), /runs no checks/);
});

function countResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

async function until(test: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

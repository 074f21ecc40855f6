import t from 'tap';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { watchAccessLog } from '../../src/observe/access-log.js';
import { watchListenerErrors } from '../../src/observe/listener-errors.js';
import { SwitchyardError } from '../../src/errors.js';
import { createLogger } from '../../src/observe/logger.js';
import { watchTransitions } from '../../src/observe/transitions-log.js';
import { fakeService, sessionRecord } from './fake-service.js';

/** A logger writing into an array of parsed lines. */
function capture(level: 'info' | 'warn' = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ level, destination }) };
}

t.test('access log: one line per ended session, with every record field', async (t) => {
  const { lines, logger } = capture();
  const svc = fakeService('pg', ['127.0.0.1:6001']);
  const stop = watchAccessLog(logger, svc);

  const served = sessionRecord('pg', { member: '127.0.0.1:6001', bytesIn: 120, bytesOut: 3400, durationMs: 850, end: 'client-closed', retries: 1 });
  const refused = sessionRecord('pg', { end: 'no-member', error: 'SWY_ERR_NO_MEMBER' });
  const udp = sessionRecord('pg', { protocol: 'udp', member: '127.0.0.1:6001', datagramsIn: 2, datagramsOut: 2, reroutes: 1, end: 'idle-timeout' });
  svc.listener.emit('session-end', served);
  svc.listener.emit('session-end', refused);
  svc.listener.emit('session-end', udp);
  // Other listener events are not access lines.
  svc.listener.emit('connect-result', { member: svc.members[0]!, ok: true, durationMs: 1 });

  t.equal(lines.length, 3);
  t.match(lines[0], { level: 'info', msg: 'access', ...served });
  t.match(lines[1], { msg: 'access', service: 'pg', end: 'no-member', error: 'SWY_ERR_NO_MEMBER' });
  t.notOk('member' in lines[1]!, 'no member field when none served');
  t.match(lines[2], { protocol: 'udp', datagramsIn: 2, datagramsOut: 2, reroutes: 1 });
  t.match(lines[0]!.time, /^\d{4}-\d\d-\d\dT/, 'ISO time');

  stop();
  svc.listener.emit('session-end', served);
  t.equal(lines.length, 3, 'nothing after unsubscribe');
  t.equal(svc.listener.listenerCount('session-end'), 0);
});

t.test('transitions: each real change logged once with its cause; down is a warning', async (t) => {
  const { lines, logger } = capture();
  const svc = fakeService('pg', ['127.0.0.1:6001', '127.0.0.1:6002'], { checked: true });
  const stop = watchTransitions(logger, svc);
  const [a] = svc.members;

  a!.setFlag('pending', false, { source: 'check', detail: 'connected in 1 ms' });
  a!.setFlag('failedCheck', true, { source: 'check', detail: 'connect ECONNREFUSED' });
  a!.setFlag('failedCheck', true, { source: 'check', detail: 'connect ECONNREFUSED' });
  a!.setFlag('ejected', true, { source: 'outlier', detail: '5 consecutive connect failures' });
  a!.setFlag('failedCheck', false, { source: 'check', detail: 'passed' });
  a!.setFlag('ejected', false, { source: 'check', detail: 'readmitted by a passing check' });
  a!.setFlag('adminDrain', true, { source: 'admin', detail: 'admin drain' });

  const states = lines.filter((l) => l['msg'] === 'member state');
  t.equal(states.length, 4, 'unknown→up, up→down, down→up, up→draining');
  t.match(states[0], { level: 'info', msg: 'member state', service: 'pg', member: '127.0.0.1:6001', from: 'unknown', to: 'up', source: 'check' });
  t.match(states[1], {
    level: 'warn',
    from: 'up',
    to: 'down',
    source: 'check',
    detail: 'connect ECONNREFUSED',
    health: '/failedCheck',
  });
  t.match(states[2], { level: 'info', from: 'down', to: 'up', source: 'check', detail: 'readmitted by a passing check', health: 'healthy' });
  t.match(states[3], { to: 'draining', source: 'admin', detail: 'admin drain', health: '/adminDrain' });

  stop();
  const before = lines.length;
  a!.setFlag('adminMaint', true, { source: 'admin', detail: 'admin disable' });
  svc.members[1]!.setFlag('pending', false, { source: 'check', detail: 'passed' });
  await Promise.resolve();
  t.equal(lines.length, before, 'nothing after unsubscribe');
  t.equal(svc.pool.listenerCount('state'), 0);
  t.equal(svc.pool.listenerCount('change'), 0);
});

t.test('routing mode: logged after the member change that caused it; backup, panic and none are warnings', async (t) => {
  const { lines, logger } = capture();
  const svc = fakeService('pg', ['127.0.0.1:6001', ['127.0.0.1:6002', { backup: true }]], { checked: true });
  watchTransitions(logger, svc);
  const [p, b] = svc.members;
  const check = { source: 'check' as const, detail: 'x' };
  p!.setFlag('pending', false, check);
  b!.setFlag('pending', false, check);
  p!.setFlag('failedCheck', true, check);
  b!.setFlag('failedCheck', true, check);
  p!.setFlag('failedCheck', false, check);
  const seen = lines.map((l) => (l['msg'] === 'routing mode' ? `${l['level']} mode ${l['from']}→${l['to']}` : `${l['member']} ${l['to']}`));
  t.same(seen, [
    '127.0.0.1:6001 up',
    'info mode pending→primary',
    '127.0.0.1:6002 up',
    '127.0.0.1:6001 down',
    'warn mode primary→backup',
    '127.0.0.1:6002 down',
    'warn mode backup→none',
    '127.0.0.1:6001 up',
    'info mode none→primary',
  ]);
  t.match(lines[1], { service: 'pg' });
});

t.test('routing mode: a change no member change caused (a reload) is logged once', async (t) => {
  const { lines, logger } = capture();
  const svc = fakeService('pg', ['127.0.0.1:6001']);
  watchTransitions(logger, svc);
  t.equal(svc.pool.mode, 'primary');
  svc.pool.setMembers([]);
  svc.pool.setMembers([]);
  await Promise.resolve();
  t.same(
    lines.map((l) => [l['msg'], l['from'], l['to']]),
    [['routing mode', 'primary', 'none']],
  );
});

t.test('the level filters lines; access lines are info', async (t) => {
  const { lines, logger } = capture('warn');
  const svc = fakeService('pg', ['127.0.0.1:6001']);
  watchAccessLog(logger, svc);
  watchTransitions(logger, svc);
  svc.listener.emit('session-end', sessionRecord('pg'));
  svc.members[0]!.setFlag('adminDrain', true, { source: 'admin', detail: 'admin drain' });
  svc.members[0]!.setFlag('failedCheck', true, { source: 'check', detail: 'timeout' });
  t.same(
    lines.map((l) => [l['level'], l['msg'], l['to']]),
    [
      ['warn', 'routing mode', 'none'],
      ['warn', 'member state', 'down'],
    ],
    'the only member drained leaves no route (a warning); the draining line (info) is filtered',
  );
});

t.test('stdout output is asynchronous and flushed when the process exits', async (t) => {
  t.setTimeout(30_000);
  const logger = new URL('../../src/observe/logger.ts', import.meta.url).href;
  const code = `
    const { createLogger } = await import(${JSON.stringify(logger)});
    const log = createLogger({ level: 'info' });
    for (let i = 0; i < 2000; i++) log.info({ i }, 'line');
    process.exit(0);
  `;
  const loader = process.execArgv.filter((a) => a.includes('tsx'));
  const child = spawn(process.execPath, [...loader, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  t.equal(exitCode, 0, err);
  const lines = out.split('\n').filter(Boolean);
  t.equal(lines.length, 2000, 'every line written before exit reached stdout');
  t.match(JSON.parse(lines[1999]!), { level: 'info', msg: 'line', i: 1999 });
});

t.test('accept errors: logged at most once per interval, with how many were left unsaid', async (t) => {
  const { lines, logger } = capture();
  const svc = fakeService('pg', ['127.0.0.1:6001']);
  const stop = watchListenerErrors(logger, svc, 200);
  const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
  for (let i = 0; i < 50; i++) svc.listener.emit('accept-error', emfile);
  t.equal(lines.length, 1, 'a burst is one line');
  t.match(lines[0], { level: 'warn', service: 'pg', code: 'EMFILE', suppressed: 0 });
  await new Promise((r) => setTimeout(r, 250));
  svc.listener.emit('accept-error', emfile);
  t.equal(lines.length, 2);
  t.match(lines[1], { suppressed: 49 }, 'the next line counts the ones not logged');
  stop();
  svc.listener.emit('accept-error', emfile);
  t.equal(lines.length, 2, 'nothing after stop');
});

t.test('an error with a cause: the message as the error says it, the cause and its code beside it', async (t) => {
  const { lines, logger } = capture();
  const cause = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:5432'), { code: 'EADDRINUSE' });
  const err = new SwitchyardError('SWY_ERR_LISTEN', `cannot listen on 127.0.0.1:5432: ${cause.message}`, { cause });
  logger.fatal({ err }, 'cannot start');
  const logged = lines[0]!.err as { message: string; code: string; cause: { message: string; code: string } };
  t.equal(logged.message, 'cannot listen on 127.0.0.1:5432: listen EADDRINUSE: address already in use 127.0.0.1:5432', 'said once');
  t.equal(logged.code, 'SWY_ERR_LISTEN');
  t.match(logged.cause, { message: cause.message, code: 'EADDRINUSE' });
});

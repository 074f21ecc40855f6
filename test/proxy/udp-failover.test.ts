import { createSocket } from 'node:dgram';
import t, { type Test } from 'tap';
import type { Member } from '../../src/pool/member.js';
import type { ConnectResult } from '../../src/proxy/types.js';
import {
  backendFor,
  clientFor,
  listenerTarget,
  nextEvent,
  paced,
  startChildUdpBackend,
  startUdpListener,
  udpMember,
  udpPool,
  udpServiceConfig,
  unreachableUdpPort,
  waitUntil,
} from '../helpers/udp-backends.js';

t.setTimeout(60_000);

// `first` makes the first member take every new session, so each test knows which member a session starts on.
const FIRST = { balance: 'first' } as const;

const cause = { source: 'check' as const, detail: 'test' };

t.test('ICMP unreachable: the session moves at once and its datagram is resent', async (t) => {
  const dead = udpMember(await unreachableUdpPort(t));
  const alive = udpMember(await backendFor(t, { name: 'B', mode: 'tag' }));
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([dead, alive], FIRST));
  const results: ConnectResult[] = [];
  listener.on('connect-result', (r) => results.push(r));
  const reroutes: { from: Member; to: Member }[] = [];
  listener.on('reroute', (r) => reroutes.push(r));
  const c = await clientFor(t, listener);
  c.send('query 1');
  t.equal((await c.next()).toString(), 'B|query 1', 'answered by the live member without a client retry');
  t.match(results, [
    { member: dead, ok: false, error: 'unreachable' },
    { member: alive, ok: true },
  ]);
  t.same(reroutes, [{ from: dead, to: alive }]);
  t.equal(dead.active, 0);
  t.equal(alive.active, 1);
  c.send('query 2');
  t.equal((await c.next()).toString(), 'B|query 2', 'the session stays on its new member');
  const ended = nextEvent(listener, 'session-end');
  listener.closeAll('shutdown');
  t.match(await ended, { member: alive.id, retries: 1, reroutes: 1, datagramsIn: 2, datagramsOut: 2 });
});

/** A member that echoes its first `answers` datagrams, then keeps the rest unanswered; `close()` kills its port. */
async function forgetfulMember(tt: Test, answers: number) {
  const socket = createSocket('udp4');
  let seen = 0;
  socket.on('message', (msg, r) => {
    if (seen++ < answers) socket.send(msg, r.port, r.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let open = true;
  const close = () =>
    new Promise<void>((resolve) => {
      if (!open) return resolve();
      open = false;
      socket.close(() => resolve());
    });
  tt.teardown(close);
  return { member: udpMember({ host: '127.0.0.1', port: socket.address().port }), received: () => seen, close };
}

t.test('ICMP unreachable: datagrams the dead member left unanswered are resent too', async (t) => {
  const a = await forgetfulMember(t, 1);
  const b = await backendFor(t, { name: 'B', mode: 'tag' });
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([a.member, udpMember(b)], FIRST));
  const c = await clientFor(t, listener);
  c.send('q1');
  t.equal((await c.next()).toString(), 'q1');
  c.send('q2');
  await waitUntil(() => a.received() === 2);
  await a.close(); // q2 died with it, unanswered
  c.send('q3');
  t.same([(await c.next()).toString(), (await c.next()).toString()], ['B|q2', 'B|q3'], 'q2 and q3 answered by B, in order');
  t.equal(b.received, 2);
});

t.test("ICMP on one session moves the member's other sessions that wait on replies, at once", async (t) => {
  const a = await forgetfulMember(t, 2);
  const b = await backendFor(t, { name: 'B', mode: 'tag' });
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([a.member, udpMember(b)], FIRST));
  const c1 = await clientFor(t, listener);
  const c2 = await clientFor(t, listener);
  const c3 = await clientFor(t, listener);
  c1.send('c1 q1');
  await c1.next();
  c2.send('c2 q1');
  await c2.next();
  c3.send('c3 q1'); // unanswered, and nothing is known of its replies: it stays until its own next datagram
  c2.send('c2 q2'); // unanswered, after a reply: waiting
  await waitUntil(() => a.received() === 4);
  await a.close();
  const reroutes: { from: Member; to: Member }[] = [];
  listener.on('reroute', (r) => reroutes.push(r));
  c1.send('c1 q2');
  t.equal((await c1.next()).toString(), 'B|c1 q2');
  t.equal((await c2.next()).toString(), 'B|c2 q2', 'c2 answered without sending again');
  t.equal(reroutes.length, 2);
  t.ok(reroutes.every((r) => r.from === a.member && r.to.address.port === b.port), 'both from A to B');
  t.equal(a.member.active, 1, 'c3 is still on A');
  c3.send('c3 q2');
  t.equal((await c3.next()).toString(), 'B|c3 q2');
  t.equal(a.member.active, 0);
});

t.test('resending keeps to a byte budget: big unanswered datagrams are not all held', async (t) => {
  const a = await forgetfulMember(t, 1);
  const b = await backendFor(t, { name: 'B', mode: 'tag' });
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([a.member, udpMember(b)], FIRST));
  const c = await clientFor(t, listener);
  c.send('q1');
  await c.next();
  for (let i = 0; i < 3; i++) c.send(Buffer.alloc(40_000, 0x30 + i));
  await waitUntil(() => a.received() === 4);
  await a.close();
  c.send('last');
  const first = await c.next();
  t.equal(first.length, 2 + 40_000, 'the newest big datagram is resent');
  t.equal(first[2], 0x32);
  t.equal((await c.next()).toString(), 'B|last');
  await t.rejects(c.next(200), 'older big ones were let go (64 KiB budget)');
  t.equal(b.received, 2);
});

t.test('every member unreachable: the session ends as connect-failed', async (t) => {
  const a = udpMember(await unreachableUdpPort(t));
  const b = udpMember(await unreachableUdpPort(t));
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([a, b], FIRST));
  const c = await clientFor(t, listener);
  const ended = nextEvent(listener, 'session-end');
  c.send('anyone?');
  t.match(await ended, { end: 'connect-failed', error: 'unreachable', retries: 1, member: b.id });
  t.equal(a.active + b.active, 0);
  t.equal(listener.activeCount, 0);
});

t.test('a silent member past replyTimeout is reported as timeout', async (t) => {
  const silent = udpMember(await backendFor(t, { mode: 'silent' }));
  const listener = await startUdpListener(t, udpServiceConfig({ replyTimeout: 200 }), udpPool([silent]));
  const c = await clientFor(t, listener);
  const reported = nextEvent(listener, 'connect-result');
  c.send('hello?');
  const r = await reported;
  t.match(r, { member: silent, ok: false, error: 'timeout' });
  t.ok(r.durationMs >= 200, `not before the timeout (${Math.round(r.durationMs)}ms)`);
  t.equal(listener.activeCount, 1, 'the session stays: passive health decides about the member');
});

t.test('a member that answers again after a timeout is reported ok again', async (t) => {
  let answering = true;
  const socket = createSocket('udp4');
  socket.on('message', (msg, r) => {
    if (answering) socket.send(msg, r.port, r.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.teardown(() => socket.close());
  const member = udpMember({ host: '127.0.0.1', port: socket.address().port });
  const listener = await startUdpListener(t, udpServiceConfig({ replyTimeout: 100 }), udpPool([member]));
  const results: ConnectResult[] = [];
  listener.on('connect-result', (r) => results.push(r));
  const c = await clientFor(t, listener);
  c.send('one');
  await c.next();
  answering = false;
  c.send('two');
  await waitUntil(() => results.length === 2);
  answering = true;
  c.send('three');
  t.equal((await c.next()).toString(), 'three');
  await waitUntil(() => results.length === 3);
  t.same(results.map((r) => r.error ?? 'ok'), ['ok', 'timeout', 'ok']);
});

t.test('member down: its sessions move at their next datagram, whatever onMemberDown says', async (t) => {
  const a = udpMember(await backendFor(t, { name: 'A', mode: 'tag' }));
  const b = udpMember(await backendFor(t, { name: 'B', mode: 'tag' }));
  const listener = await startUdpListener(t, udpServiceConfig({ onMemberDown: 'keep' }), udpPool([a, b], FIRST));
  const c = await clientFor(t, listener);
  c.send('1');
  t.equal((await c.next()).toString(), 'A|1');
  a.setFlag('failedCheck', true, cause);
  t.equal(a.active, 0, 'detached from the down member at once');
  t.equal(a.attachments.size, 0);
  t.equal(listener.activeCount, 1, 'the session itself lives on');
  const rerouted = nextEvent(listener, 'reroute');
  c.send('2');
  t.equal((await c.next()).toString(), 'B|2');
  t.same(await rerouted, { from: a, to: b });
  a.setFlag('failedCheck', false, cause);
  c.send('3');
  t.equal((await c.next()).toString(), 'B|3', 'no flapping back when the member returns');
  const ended = nextEvent(listener, 'session-end');
  listener.closeAll('shutdown');
  t.match(await ended, { member: b.id, reroutes: 1, retries: 0, datagramsIn: 3, datagramsOut: 3 });
});

t.test('member down: sessions waiting on replies move at once and resend what went unanswered', async (t) => {
  const a = await forgetfulMember(t, 1);
  const b = await backendFor(t, { name: 'B', mode: 'tag' });
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([a.member, udpMember(b)], FIRST));
  const c1 = await clientFor(t, listener);
  const c2 = await clientFor(t, listener);
  c1.send('c1 q1');
  t.equal((await c1.next()).toString(), 'c1 q1');
  c1.send('c1 q2'); // unanswered, after a reply: waiting
  c2.send('c2 q1'); // unanswered, and nothing is known of its replies: it moves at its next datagram
  await waitUntil(() => a.received() === 3);
  // A member found down (its process killed with the datagram in its queue: no ICMP ever comes back).
  a.member.setFlag('failedCheck', true, cause);
  t.equal((await c1.next()).toString(), 'B|c1 q2', 'c1 answered by B without sending again');
  t.equal(a.member.active, 0, 'both left the down member');
  t.equal(b.received, 1, 'c2 q1 was not resent');
  c2.send('c2 q2');
  t.equal((await c2.next()).toString(), 'B|c2 q2');
});

t.test('member down, replies counted (responsesPerSession 1): a new session\'s unanswered query is resent', async (t) => {
  const a = await forgetfulMember(t, 0);
  const b = await backendFor(t, { name: 'B', mode: 'tag' });
  const listener = await startUdpListener(t, udpServiceConfig({ responsesPerSession: 1 }), udpPool([a.member, udpMember(b)], FIRST));
  const reroutes: { from: Member; to: Member }[] = [];
  listener.on('reroute', (r) => reroutes.push(r));
  const c = await clientFor(t, listener);
  c.send('query');
  await waitUntil(() => a.received() === 1);
  a.member.setFlag('failedCheck', true, cause);
  t.equal((await c.next()).toString(), 'B|query', 'answered by B; the client sent once');
  t.equal(reroutes.length, 1);
  t.ok(reroutes[0]?.from === a.member && reroutes[0].to.address.port === b.port, 'rerouted from A to B');
});

t.test('closed as an attachment (onMemberDown close, drain, failback): a waiting session resends too', async (t) => {
  const a = await forgetfulMember(t, 1);
  const b = await backendFor(t, { name: 'B', mode: 'tag' });
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([a.member, udpMember(b)], FIRST));
  const c = await clientFor(t, listener);
  c.send('q1');
  t.equal((await c.next()).toString(), 'q1');
  c.send('q2');
  await waitUntil(() => a.received() === 2);
  // As the service does on a member going down with onMemberDown close, before the listener hears of it.
  a.member.closeAll('member-down');
  t.equal((await c.next()).toString(), 'B|q2', 'answered by B without sending again');
  t.equal(a.member.active, 0);
  t.equal(listener.activeCount, 1, 'the session lives on');
});

t.test('member down with no other member: a waiting session is left to its next datagram', async (t) => {
  const a = await forgetfulMember(t, 1);
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([a.member], FIRST));
  const c = await clientFor(t, listener);
  c.send('q1');
  t.equal((await c.next()).toString(), 'q1');
  c.send('q2');
  await waitUntil(() => a.received() === 2);
  a.member.setFlag('failedCheck', true, cause);
  t.equal(a.member.active, 0, 'detached');
  t.equal(listener.activeCount, 1, 'the session itself lives on, as without a waiting datagram');
});

t.test('draining: sessions stay until the service closes them, then move', async (t) => {
  const a = udpMember(await backendFor(t, { name: 'A', mode: 'tag' }));
  const b = udpMember(await backendFor(t, { name: 'B', mode: 'tag' }));
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([a, b], FIRST));
  const c = await clientFor(t, listener);
  const fresh = await clientFor(t, listener);
  c.send('1');
  t.equal((await c.next()).toString(), 'A|1');
  a.setFlag('adminDrain', true, { source: 'admin', detail: 'drain' });
  c.send('2');
  t.equal((await c.next()).toString(), 'A|2', 'an existing session stays on the draining member');
  fresh.send('new');
  t.equal((await fresh.next()).toString(), 'B|new', 'a new session goes elsewhere');
  a.closeAll('drained'); // what the service does at drainTimeout
  t.equal(a.active, 0);
  const rerouted = nextEvent(listener, 'reroute');
  c.send('3');
  t.equal((await c.next()).toString(), 'B|3');
  t.same(await rerouted, { from: a, to: b });
});

t.test("close('shutdown') as an attachment ends the session", async (t) => {
  const a = udpMember(await backendFor(t, { mode: 'echo' }));
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([a]));
  const c = await clientFor(t, listener);
  c.send('x');
  await c.next();
  const ended = nextEvent(listener, 'session-end');
  a.closeAll('shutdown');
  t.match(await ended, { end: 'shutdown', member: a.id });
  t.equal(listener.activeCount, 0);
});

t.test('a detached session with no member left drops and waits; it moves when one returns', async (t) => {
  const a = udpMember(await backendFor(t, { name: 'A', mode: 'tag' }));
  const listener = await startUdpListener(t, udpServiceConfig(), udpPool([a]));
  const c = await clientFor(t, listener);
  c.send('1');
  await c.next();
  a.setFlag('failedCheck', true, cause);
  const dropped = nextEvent(listener, 'drop');
  c.send('22');
  t.same(await dropped, { reason: 'no-member', bytes: 2 });
  a.setFlag('failedCheck', false, cause);
  c.send('3');
  t.equal((await c.next()).toString(), 'A|3', 'back on the same member: not a reroute');
  const ended = nextEvent(listener, 'session-end');
  listener.closeAll('shutdown');
  t.match(await ended, { reroutes: 0, datagramsIn: 2 });
});

/**
 * Two child-process echo members; 2,000 datagrams over about 2 s from 8 client sockets, each with one chance
 * (no retry; an answer after 1 s counts as lost); member A is SIGKILLed half-way, right after a tick's sends, so
 * some datagrams are still unread in its buffer when it dies.
 */
async function killDuringStream(t: Test, responsesPerSession: number, maxLoss: number): Promise<void> {
  const a = await startChildUdpBackend({ name: 'A', mode: 'echo' });
  t.teardown(() => a.kill());
  const b = await startChildUdpBackend({ name: 'B', mode: 'echo' });
  t.teardown(() => b.kill());
  const ma = udpMember(a);
  const mb = udpMember(b);
  const listener = await startUdpListener(t, udpServiceConfig({ responsesPerSession }), udpPool([ma, mb]));
  let reroutes = 0;
  listener.on('reroute', ({ from }) => {
    if (from === ma) reroutes++;
  });
  const clients = await Promise.all(Array.from({ length: 8 }, () => clientFor(t, listener)));
  const total = 2000;
  const timeoutMs = 1000;
  const sentAt = new Float64Array(total);
  const answered = new Uint8Array(total);
  let answers = 0;
  let late = 0;
  for (const c of clients) {
    c.socket.on('message', (msg) => {
      const q = msg.readUInt32BE(0);
      if (answered[q]) return;
      answered[q] = 1;
      if (performance.now() - sentAt[q]! > timeoutMs) late++;
      else answers++;
    });
  }
  const target = listenerTarget(listener);
  await paced(total, 2000, (q) => {
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(q);
    sentAt[q] = performance.now();
    clients[q % clients.length]!.socket.send(buf, target.port, target.host);
    if (q === total / 2) void a.kill('SIGKILL');
  });
  await waitUntil(() => answers + late === total, timeoutMs + 200).catch(() => {});
  const lost = total - answers;
  const missing = [...answered.keys()].filter((q) => !answered[q]);
  t.comment(
    `member kill (child process, responsesPerSession ${responsesPerSession}): ${lost} of ${total} datagrams lost ` +
      `(${late} of them answered late), ${reroutes} sessions rerouted` +
      (missing.length ? `; unanswered: ${missing.join(' ')}` : ''),
  );
  t.ok(lost <= maxLoss, `loss is at most ${maxLoss} of ${total} (lost ${lost})`);
  t.ok(reroutes > 0, 'sessions on the killed member were rerouted');
  t.equal(ma.active, 0, 'no session is left on the killed member');
  t.equal(mb.active, listener.activeCount, 'the survivor holds every session');
}

t.test('a member killed during a steady stream: what each session left unanswered is resent', (t) =>
  killDuringStream(t, 0, 2),
);

t.test('a member killed during a steady stream, replies counted (responsesPerSession 1)', (t) => killDuringStream(t, 1, 2));

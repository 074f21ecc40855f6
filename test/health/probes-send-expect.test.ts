import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import type { SendExpectStep } from '../../src/config/types.js';
import { probe } from '../../src/health/probes/send-expect.js';
import { checkConfig, runProbe } from '../helpers/probe-check.js';
import { refusingPort } from '../helpers/backends.js';

t.setTimeout(30_000);

/** A loopback server, closed when the test ends; `closed` counts server-side sockets that have closed. */
async function serve(tt: Test, onSocket: (s: Socket) => void) {
  const stats = { accepted: 0, closed: 0 };
  const server = createServer((s) => {
    stats.accepted++;
    s.on('error', () => {});
    s.on('close', () => stats.closed++);
    onSocket(s);
    // Keep reading, so the server sees the probe's close even when it never answers.
    s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  tt.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { target: { host: '127.0.0.1', port: (server.address() as { port: number }).port }, stats };
}

const str = (value: string) => ({ kind: 'string' as const, value });
const steps = (...s: SendExpectStep[]) => checkConfig('send-expect', { steps: s });

/** A Redis-ish line server: PING → +PONG, anything else → -ERR. */
const pingServer = (tt: Test) =>
  serve(tt, (s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\r\n')) !== -1) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        s.write(line === 'PING' ? '+PONG\r\n' : `-ERR unknown command '${line}'\r\n`);
      }
    });
  });

t.test('send then expect a string: pass', async (t) => {
  const { target } = await pingServer(t);
  const r = await runProbe(probe, target, steps({ send: Buffer.from('PING\r\n'), expect: str('+PONG') }));
  t.equal(r.ok, true, r.detail);
  t.equal(r.detail, 'got "+PONG\\r\\n"');
});

t.test('a reply arriving in pieces still matches', async (t) => {
  const { target } = await serve(t, (s) =>
    s.once('data', () => {
      s.write('+PO');
      setTimeout(() => s.write('NG\r\n'), 30);
    }),
  );
  const r = await runProbe(probe, target, steps({ send: Buffer.from('PING\r\n'), expect: str('+PONG') }));
  t.equal(r.ok, true, r.detail);
});

t.test('a banner, then a conversation of several steps, with regex and hex expectations', async (t) => {
  const { target } = await serve(t, (s) => {
    s.write('220 mail.example ESMTP\r\n');
    s.on('data', (d) => {
      if (d.toString().startsWith('EHLO')) s.write('250-mail.example\r\n250 SIZE 1000\r\n');
      else if (d.toString().startsWith('NOOP')) s.write(Buffer.from([0x32, 0x35, 0x30, 0x20, 0x00, 0xff, 0x0d, 0x0a]));
    });
  });
  const r = await runProbe(
    probe,
    target,
    steps(
      { expect: str('220 ') },
      { send: Buffer.from('EHLO probe\r\n'), expect: { kind: 'regex', value: /^250 SIZE \d+/gm } },
      { send: Buffer.from('NOOP\r\n'), expect: { kind: 'hex', value: Buffer.from([0x00, 0xff]) } },
    ),
  );
  t.equal(r.ok, true, r.detail);
});

t.test('bytes received before a step\'s send do not satisfy its expect', async (t) => {
  // The first reply carries both words; the second step must see only what follows its own send.
  const { target } = await serve(t, (s) => {
    let n = 0;
    s.on('data', () => s.write(++n === 1 ? 'ONE TWO\r\n' : 'THREE\r\n'));
  });
  const r = await runProbe(
    probe,
    target,
    steps({ send: Buffer.from('a\r\n'), expect: str('ONE') }, { send: Buffer.from('b\r\n'), expect: str('TWO') }),
    400,
  );
  t.equal(r.ok, false);
  t.equal(r.detail, 'timeout after 400ms at step 2 of 2: expected "TWO", got "THREE\\r\\n"');
});

t.test('a step without send keeps looking at the bytes since the last send', async (t) => {
  const { target } = await serve(t, (s) => s.once('data', () => s.write('+OK ready\r\n')));
  const r = await runProbe(probe, target, steps({ send: Buffer.from('HELLO\r\n'), expect: str('+OK') }, { expect: str('ready') }));
  t.equal(r.ok, true, r.detail);
});

t.test('a wrong reply and a close: fails at once saying what was expected and what came', async (t) => {
  const { target } = await serve(t, (s) => s.once('data', () => s.end('-ERR go away\r\n')));
  const r = await runProbe(probe, target, steps({ send: Buffer.from('PING\r\n'), expect: str('+PONG') }));
  t.equal(r.ok, false);
  t.equal(r.detail, 'connection closed by member: expected "+PONG", got "-ERR go away\\r\\n"');
  t.ok(r.elapsed < 1000);
});

t.test('a wrong reply on an open connection fails at the timeout, showing the reply', async (t) => {
  const { target, stats } = await pingServer(t);
  const r = await runProbe(probe, target, steps({ send: Buffer.from('PONG\r\n'), expect: str('+PONG') }), 300);
  t.equal(r.ok, false);
  t.equal(r.detail, `timeout after 300ms: expected "+PONG", got "-ERR unknown command 'PONG'\\r\\n"`);
  await until(() => stats.closed === stats.accepted);
});

t.test('a server that accepts and never answers: timeout, and the socket is closed', async (t) => {
  const { target, stats } = await serve(t, () => {});
  const r = await runProbe(probe, target, steps({ send: Buffer.from('PING\r\n'), expect: str('+PONG') }), 250);
  t.equal(r.ok, false);
  t.equal(r.detail, 'timeout after 250ms: expected "+PONG", got nothing');
  t.ok(r.elapsed >= 240 && r.elapsed < 1000, `settled after ${r.elapsed}ms`);
  await until(() => stats.accepted === 1 && stats.closed === 1);
});

t.test('a reply larger than the read bound fails clearly instead of growing', async (t) => {
  const junk = Buffer.alloc(100 * 1024, 0x41);
  const { target } = await serve(t, (s) => s.once('data', () => s.write(junk)));
  const r = await runProbe(probe, target, steps({ send: Buffer.from('PING\r\n'), expect: str('+PONG') }));
  t.equal(r.ok, false);
  t.match(r.detail, /^reply exceeded 65536 bytes: expected "\+PONG", got "A{64}"…\(\d+ bytes\)$/);
});

t.test('non-printable bytes are escaped in the detail', async (t) => {
  const { target } = await serve(t, (s) => s.once('data', () => s.end(Buffer.from([0x00, 0x01, 0x22, 0x5c, 0x7f, 0x41]))));
  const r = await runProbe(probe, target, steps({ send: Buffer.from('x'), expect: { kind: 'hex', value: Buffer.from('beef', 'hex') } }));
  t.equal(r.ok, false);
  t.equal(r.detail, 'connection closed by member: expected hex beef, got "\\x00\\x01\\"\\\\\\x7fA"');
});

t.test('no steps: a plain connect check', async (t) => {
  const { target } = await serve(t, () => {});
  const r = await runProbe(probe, target, steps());
  t.equal(r.ok, true);
  t.match(r.detail, /^connected in /);
});

t.test('send only: passes once written', async (t) => {
  const { target } = await serve(t, () => {});
  const r = await runProbe(probe, target, steps({ send: Buffer.from('QUIT\r\n') }));
  t.equal(r.ok, true);
});

t.test('a refused port', async (t) => {
  const { port } = await refusingPort(t);
  const r = await runProbe(probe, { host: '127.0.0.1', port }, steps({ send: Buffer.from('PING\r\n'), expect: str('+PONG') }));
  t.equal(r.ok, false);
  t.equal(r.detail, 'connection refused');
});

t.test('a reset in the middle of the exchange', async (t) => {
  const { target } = await serve(t, (s) => s.once('data', () => s.resetAndDestroy()));
  const r = await runProbe(probe, target, steps({ send: Buffer.from('PING\r\n'), expect: str('+PONG') }));
  t.equal(r.ok, false);
  t.match(r.detail, /^(connection reset by member|connection closed by member): expected "\+PONG", got nothing$/);
});

async function until(test: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

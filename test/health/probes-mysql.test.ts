import { constants, createHash, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import type { HealthCheckConfig } from '../../src/config/types.js';
import { probe } from '../../src/health/probes/mysql.js';
import { checkConfig, runProbe } from '../helpers/probe-check.js';
import { refusingPort } from '../helpers/backends.js';
import { startMariadb } from '../helpers/servers.js';

t.setTimeout(90_000);

const started = performance.now();
const db = await startMariadb();
t.teardown(() => db.stop());
await db.sql(`
  CREATE USER 'probe'@'%' IDENTIFIED BY 'probe pass';
  CREATE USER 'nopass'@'%';
  CREATE DATABASE appdb;
  GRANT ALL ON appdb.* TO 'probe'@'%';
`);
t.comment(`mariadb ready in ${Math.round(performance.now() - started)}ms`);

const target = { host: db.host, port: db.port };
const my = (overrides: Partial<HealthCheckConfig>) => checkConfig('mysql', overrides);

const cases: Array<{ name: string; check: Partial<HealthCheckConfig>; ok: boolean; detail: RegExp }> = [
  { name: 'greeting only: the server version', check: {}, ok: true, detail: /^\d+\.\d+\.\d+-MariaDB/ },
  { name: 'mysql_native_password login', check: { user: 'probe', password: 'probe pass' }, ok: true, detail: /^logged in, \d+\.\d+\.\d+-MariaDB/ },
  { name: 'login with a database', check: { user: 'probe', password: 'probe pass', database: 'appdb' }, ok: true, detail: /^logged in/ },
  { name: 'login to a database the user may not use', check: { user: 'nopass', database: 'appdb' }, ok: false, detail: /^ERR 1044 \(42000\): Access denied for user 'nopass'@'%' to database 'appdb'/ },
  { name: 'login without a password', check: { user: 'nopass' }, ok: true, detail: /^logged in/ },
  { name: 'wrong password', check: { user: 'probe', password: 'nope' }, ok: false, detail: /^ERR 1045 \(28000\): Access denied for user 'probe'@'127.0.0.1' \(using password: YES\)/ },
  { name: 'unknown user', check: { user: 'ghost', password: 'x' }, ok: false, detail: /^ERR 1045 \(28000\)/ },
  { name: 'role primary on a writable server', check: { user: 'probe', password: 'probe pass', role: 'primary' }, ok: true, detail: /, read_only=0 \(primary\)$/ },
  { name: 'role replica on a writable server', check: { user: 'probe', password: 'probe pass', role: 'replica' }, ok: false, detail: /read_only=0 \(primary\), want replica$/ },
  { name: 'role without a user', check: { role: 'primary' }, ok: false, detail: /set healthCheck.user/ },
  { name: 'unknown role', check: { user: 'probe', role: 'leader' }, ok: false, detail: /unknown mysql role "leader"/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = await runProbe(probe, target, my(c.check));
    t.equal(r.ok, c.ok, r.detail);
    t.match(r.detail, c.detail);
  });
}

t.test('@@read_only decides the role', async (t) => {
  await db.sql('SET GLOBAL read_only = 1');
  t.teardown(() => db.sql('SET GLOBAL read_only = 0'));
  const replica = await runProbe(probe, target, my({ user: 'probe', password: 'probe pass', role: 'replica' }));
  t.equal(replica.ok, true, replica.detail);
  t.match(replica.detail, /read_only=1 \(replica\)$/);
  const primary = await runProbe(probe, target, my({ user: 'probe', password: 'probe pass', role: 'primary' }));
  t.equal(primary.ok, false, primary.detail);
  t.match(primary.detail, /read_only=1 \(replica\), want primary$/);
});

t.test('logins leave with COM_QUIT: no session is left behind and nothing counts as aborted', async (t) => {
  const aborted = async () => Number((await db.sql("SHOW GLOBAL STATUS LIKE 'Aborted_clients'")).split('\t')[1]);
  const before = await aborted();
  for (let i = 0; i < 5; i++) {
    const r = await runProbe(probe, target, my({ user: 'probe', password: 'probe pass', role: 'primary' }));
    t.equal(r.ok, true, r.detail);
  }
  const deadline = Date.now() + 5000;
  let left = '';
  while (Date.now() < deadline) {
    left = (await db.sql("SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'probe'")).trim();
    if (left === '0') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(left, '0');
  t.equal(await aborted(), before);
});

t.test('an ERR packet instead of a greeting (too many connections) fails', async (t) => {
  // MariaDB's floor for max_connections is 10.
  await db.sql('SET GLOBAL max_connections = 10');
  const held: Socket[] = [];
  t.teardown(async () => {
    for (const s of held) s.destroy();
    // Root over the Unix socket has a connection reserved for administrators.
    await db.sql('SET GLOBAL max_connections = 30');
  });
  // Fill the server: connections that got a greeting hold their slots while they say nothing.
  let refusal = '';
  for (let i = 0; i < 40 && refusal === ''; i++) {
    const s = createConnection({ host: db.host, port: db.port });
    held.push(s);
    const first = await new Promise<Buffer>((resolve, reject) => {
      s.once('data', resolve);
      s.once('error', reject);
    });
    if (first[4] === 0xff) refusal = first.subarray(7).toString();
  }
  t.match(refusal, /Too many connections/, 'the server is full');
  const r = await runProbe(probe, target, my({}));
  t.equal(r.ok, false);
  t.match(r.detail, /^ERR 1040: Too many connections/);
});

t.test('a refused port fails at once', async (t) => {
  const { port } = await refusingPort(t);
  const r = await runProbe(probe, { host: '127.0.0.1', port }, my({}));
  t.same({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'connection refused' });
});

t.test('a silent server: the probe settles when the signal aborts', async (t) => {
  const silent = createServer((s) => s.resume());
  await listen(silent);
  t.teardown(() => silent.close());
  const r = await runProbe(probe, { host: '127.0.0.1', port: portOf(silent) }, my({}), 200);
  t.same({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'timeout after 200ms waiting for greeting' });
});

t.test('something that is not MySQL fails with what it said', async (t) => {
  const other = createServer((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n'));
  await listen(other);
  t.teardown(() => other.close());
  const r = await runProbe(probe, { host: '127.0.0.1', port: portOf(other) }, my({}));
  t.equal(r.ok, false);
  t.match(r.detail, /^not a MySQL reply \(greeting\): "SSH-2.0/);
});

// MariaDB has no caching_sha2_password (MySQL 8's default). This server plays
// MySQL 8's side of it: it checks the scramble the way mysqld does (from the
// stored SHA256(SHA256(password)), never from the password), and for full
// authentication hands out an RSA key and decrypts the password with it.
t.test('caching_sha2_password against a MySQL 8 style server', async (t) => {
  const server = cachingSha2Server({ probe: 'sha2 pass', native: 'native pass' });
  await listen(server.net);
  t.teardown(() => server.net.close());
  const at = { host: '127.0.0.1', port: portOf(server.net) };

  server.mode = 'fast';
  let r = await runProbe(probe, at, my({ user: 'probe', password: 'sha2 pass' }));
  t.same({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'logged in, 8.0.36' }, 'fast authentication');

  server.mode = 'full';
  r = await runProbe(probe, at, my({ user: 'probe', password: 'sha2 pass' }));
  t.same({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'logged in, 8.0.36' }, 'full authentication with the RSA key');

  r = await runProbe(probe, at, my({ user: 'probe', password: 'wrong' }));
  t.equal(r.ok, false);
  t.match(r.detail, /^ERR 1045 \(28000\): Access denied/, 'a wrong password fails full authentication');

  server.mode = 'fast';
  r = await runProbe(probe, at, my({ user: 'probe', password: 'wrong' }));
  t.equal(r.ok, false);
  t.match(r.detail, /^ERR 1045/, 'a wrong password fails fast authentication');

  r = await runProbe(probe, at, my({ user: 'native', password: 'native pass' }));
  t.same({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'logged in, 8.0.36' }, 'switched to mysql_native_password for that user');
  // COM_QUIT goes out as the probe settles; give it a moment to arrive.
  const deadline = Date.now() + 2000;
  while (server.quits < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(server.quits, 3, 'every session that logged in ended with COM_QUIT');
});

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

function portOf(server: Server): number {
  return (server.address() as { port: number }).port;
}

function sha1(...parts: Buffer[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  return Buffer.from(a.map((x, i) => x ^ b[i % b.length]!));
}

function frame(seq: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq;
  return Buffer.concat([head, payload]);
}

const OK = Buffer.from([0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]);
const accessDenied = (user: string) => Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from(`#28000Access denied for user '${user}'@'127.0.0.1' (using password: YES)`)]);

/** A server of users `name → password`: "probe" uses caching_sha2_password, "native" mysql_native_password. */
function cachingSha2Server(passwords: { probe: string; native: string }) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const sha2Stored = sha256(sha256(Buffer.from(passwords.probe)));
  const nativeStored = sha1(sha1(Buffer.from(passwords.native)));
  const state = { mode: 'fast' as 'fast' | 'full', quits: 0, net: undefined as unknown as Server };

  state.net = createServer((socket) => {
    // A seed without NUL bytes, as servers send it.
    let seed = Buffer.from(randomBytes(20).map((b) => (b % 94) + 33));
    let buffered = Buffer.alloc(0);
    let phase: 'response' | 'key-request' | 'encrypted' | 'switched' | 'command' = 'response';
    let user = '';
    const caps = 0x200 | 0x8000 | 0x80000 | 0x1 | 0x8 | 0x2000;
    const capBytes = Buffer.alloc(4);
    capBytes.writeUInt32LE(caps);
    socket.write(
      frame(0, Buffer.concat([
        Buffer.from([10]), Buffer.from('8.0.36\0'), Buffer.from([1, 0, 0, 0]), seed.subarray(0, 8), Buffer.from([0]),
        capBytes.subarray(0, 2), Buffer.from([255, 2, 0]), capBytes.subarray(2, 4), Buffer.from([21]), Buffer.alloc(10),
        seed.subarray(8), Buffer.from([0]), Buffer.from('caching_sha2_password\0'),
      ])),
    );
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUIntLE(0, 3)) {
        const length = buffered.readUIntLE(0, 3);
        const seq = buffered[3]!;
        const payload = buffered.subarray(4, 4 + length);
        buffered = buffered.subarray(4 + length);
        handle(seq, payload);
      }
    });
    const handle = (seq: number, p: Buffer): void => {
      const reply = (payload: Buffer) => socket.write(frame(seq + 1, payload));
      switch (phase) {
        case 'response': {
          const userEnd = p.indexOf(0, 32);
          user = p.subarray(32, userEnd).toString();
          const auth = p.subarray(userEnd + 2, userEnd + 2 + p[userEnd + 1]!);
          if (user === 'native') {
            seed = Buffer.from(randomBytes(20).map((b) => (b % 94) + 33));
            phase = 'switched';
            reply(Buffer.concat([Buffer.from([0xfe]), Buffer.from('mysql_native_password\0'), seed, Buffer.from([0])]));
            return;
          }
          if (state.mode === 'fast') {
            const stage1 = xor(auth, sha256(sha2Stored, seed));
            const good = sha256(stage1).equals(sha2Stored);
            if (!good) return void reply(accessDenied(user));
            socket.write(frame(seq + 1, Buffer.from([0x01, 0x03])));
            socket.write(frame(seq + 2, OK));
            phase = 'command';
          } else {
            reply(Buffer.from([0x01, 0x04]));
            phase = 'key-request';
          }
          return;
        }
        case 'key-request':
          if (p[0] !== 0x02) return void socket.destroy();
          reply(Buffer.concat([Buffer.from([0x01]), Buffer.from(pem)]));
          phase = 'encrypted';
          return;
        case 'encrypted': {
          const plain = xor(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, p), seed);
          const good = plain.toString() === `${passwords.probe}\0`;
          reply(good ? OK : accessDenied(user));
          phase = 'command';
          return;
        }
        case 'switched': {
          const stage1 = xor(p, sha1(seed, nativeStored));
          reply(sha1(stage1).equals(nativeStored) ? OK : accessDenied(user));
          phase = 'command';
          return;
        }
        case 'command':
          if (p[0] === 0x01) {
            state.quits++;
            socket.end();
          }
      }
    };
    socket.on('error', () => socket.destroy());
  });
  return state;
}

/**
 * Real Redis, PostgreSQL, MariaDB and dnsmasq instances for protocol tests.
 * Each runs on a free loopback port of its own, with its data in a fresh
 * temporary folder, as a child process that `stop()` kills by PID (and that a
 * crashing test run kills on exit). A missing binary is an error, never a skip:
 * `.ci/install-servers.sh` installs them all.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { START_MS } from './cli.js';

const run = promisify(execFile);

/** How long a server may take to exit after its stop signal, before SIGKILL. */
const STOP_TIMEOUT_MS = 10_000;
/** Fresh ports tried when a server finds its port taken between our check and its bind. */
const PORT_ATTEMPTS = 5;

export interface RunningServer {
  host: string;
  port: number;
  pid: number;
  /** The server's own temporary folder (data, sockets, pid file). */
  dir: string;
  /** What the server has printed so far (the tail), for assertion messages. */
  output(): string;
  /** Stops the server (its stop signal, then SIGKILL) and removes its folder. */
  stop(): Promise<void>;
}

export interface PostgresServer extends RunningServer {
  /** Runs SQL as the `postgres` superuser over the Unix socket; returns psql's unaligned output. */
  sql(query: string): Promise<string>;
}

export interface MariadbServer extends RunningServer {
  /** Runs SQL as root over the Unix socket; returns the tab-separated rows. */
  sql(query: string): Promise<string>;
}

// ---------------------------------------------------------------- binaries

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The path of the first of `names` found on PATH or in the system folders; throws with the fix when none is. */
export function requireBinary(names: string[], extraDirs: string[] = []): string {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(':').filter(Boolean), ...SYSTEM_DIRS];
  for (const name of names) {
    for (const dir of dirs) {
      const path = join(dir, name);
      if (existsSync(path)) return path;
    }
  }
  throw new Error(
    `${names.join(' or ')} is not installed; the protocol tests need real servers. ` +
      'Install them with .ci/install-servers.sh (apt-get install redis-server postgresql mariadb-server dnsmasq).',
  );
}

/** Debian keeps PostgreSQL's server programs in /usr/lib/postgresql/<major>/bin; the newest major wins. */
function postgresBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => join(root, v, 'bin'));
}

// ---------------------------------------------------------------- ports

function listenOnce(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

function bindUdpOnce(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve()));
  });
}

/**
 * A TCP port that was free a moment ago, for a server started here (the OS picks it; the server
 * may still lose a race for it, and is started again). A port that must stay closed is refusingPort's.
 */
function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return listenOnce(host, 0);
}

/** A port free for both TCP and UDP, as DNS servers bind both. */
async function freeTcpUdpPort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await listenOnce(host, 0);
    try {
      await bindUdpOnce(host, port);
      return port;
    } catch (err) {
      if (attempt >= 20) throw err;
    }
  }
}

// ---------------------------------------------------------------- processes

// A test file that dies before its teardown (a failed start at top level) still leaves nothing behind.
const running = new Set<ChildProcess>();
const folders = new Set<string>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
  for (const dir of folders) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

interface Launch {
  name: string;
  command: string;
  args: (port: number) => string[];
  /** Printed once the server accepts connections. */
  ready: RegExp;
  /** Printed when the port was taken after all: pick another and try again. */
  portTaken: RegExp;
  pickPort: () => Promise<number>;
  host: string;
  dir: string;
  stopSignal: NodeJS.Signals;
  uid?: number;
  gid?: number;
}

interface Launched {
  child: ChildProcess;
  port: number;
  output: () => string;
}

function spawnOnce(launch: Launch, port: number): Promise<Launched & { portTaken?: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(launch.command, launch.args(port), {
      cwd: launch.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(launch.uid === undefined ? {} : { uid: launch.uid, gid: launch.gid }),
    });
    running.add(child);
    let text = '';
    const output = (): string => text;
    const onOutput = (chunk: Buffer): void => {
      text = (text + chunk.toString()).slice(-64 * 1024);
      if (launch.ready.test(text)) finish(() => resolve({ child, port, output }));
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() => reject(new Error(`${launch.name} did not become ready within ${START_MS}ms:\n${text}`)));
    }, START_MS);
    let settled = false;
    const finish = (settle: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      settle();
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    child.once('error', (err) => {
      running.delete(child);
      finish(() => reject(new Error(`${launch.name} could not be started: ${err.message}`)));
    });
    // 'close', not 'exit': by then all the server printed has been read.
    child.once('close', (code, signal) => {
      running.delete(child);
      if (launch.portTaken.test(text)) finish(() => resolve({ child, port, output, portTaken: true }));
      else finish(() => reject(new Error(`${launch.name} exited (${signal ?? code}) before it was ready:\n${text}`)));
    });
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      running.delete(child);
      resolve();
    });
    child.kill(signal);
  });
}

async function launchServer(launch: Launch): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await launch.pickPort();
    const started = await spawnOnce(launch, port);
    if (started.portTaken) {
      if (attempt < PORT_ATTEMPTS) continue;
      throw new Error(`${launch.name}: port ${port} taken ${PORT_ATTEMPTS} times in a row:\n${started.output()}`);
    }
    const { child } = started;
    return {
      host: launch.host,
      port,
      pid: child.pid!,
      dir: launch.dir,
      output: started.output,
      stop: async () => {
        await stopChild(child, launch.stopSignal);
        await removeDir(launch.dir);
      },
    };
  }
}

/** Runs a setup command to completion; throws with its output when it fails. */
async function runTool(command: string, args: string[], options: { uid?: number; gid?: number; cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await run(command, args, { ...options, maxBuffer: 16 * 1024 * 1024, timeout: START_MS });
    return stdout;
  } catch (err) {
    // The message holds the command line and its stderr.
    const e = err as Error & { stdout?: string };
    throw new Error(`${e.message}${e.stdout ? `\n${e.stdout}` : ''}`);
  }
}

async function withCleanup<T>(dir: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

async function makeDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `switchyard-${name}-`));
  folders.add(dir);
  return dir;
}

async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  folders.delete(dir);
}

const PORT_IN_USE = /address already in use|EADDRINUSE/i;

// ---------------------------------------------------------------- redis

export interface RedisOptions {
  /** requirepass */
  password?: string;
  /** Start as a replica of this server (`--replicaof`). */
  replicaOf?: { host: string; port: number; password?: string };
}

/** redis-server in the foreground, no persistence, on 127.0.0.1. */
export async function startRedis(options: RedisOptions = {}): Promise<RunningServer> {
  const command = requireBinary(['redis-server']);
  const dir = await makeDir('redis');
  return withCleanup(dir, () =>
    launchServer({
      name: 'redis-server',
      command,
      host: '127.0.0.1',
      dir,
      pickPort: () => freeTcpPort(),
      ready: /Ready to accept connections/,
      portTaken: PORT_IN_USE,
      stopSignal: 'SIGTERM',
      args: (port) => [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--dir', dir,
        '--save', '',
        '--appendonly', 'no',
        '--daemonize', 'no',
        '--protected-mode', 'no',
        '--logfile', '',
        ...(options.password === undefined ? [] : ['--requirepass', options.password]),
        ...(options.replicaOf === undefined
          ? []
          : ['--replicaof', options.replicaOf.host, String(options.replicaOf.port)]),
        ...(options.replicaOf?.password === undefined ? [] : ['--masterauth', options.replicaOf.password]),
      ],
    }),
  );
}

// ---------------------------------------------------------------- postgres

export interface PostgresOptions {
  /** pg_hba.conf lines for TCP clients on 127.0.0.1 (the Unix socket always trusts, for setup). */
  hba?: string[];
}

function systemUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (line === undefined) throw new Error(`the system user "${name}" does not exist; install the server package`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** PostgreSQL refuses to run as root: when we are root it runs as the `postgres` user, which must own its folder. */
function postgresIdentity(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? systemUser('postgres') : {};
}

async function postgresDir(name: string): Promise<string> {
  const dir = await makeDir(name);
  const who = postgresIdentity();
  if (who.uid !== undefined) await chown(dir, who.uid, who.gid!);
  return dir;
}

function launchPostgres(bin: string, dir: string, ready: RegExp, settings: string[] = []): Promise<RunningServer> {
  return launchServer({
    name: 'postgres',
    command: join(bin, 'postgres'),
    host: '127.0.0.1',
    dir,
    ...postgresIdentity(),
    pickPort: () => freeTcpPort(),
    ready,
    portTaken: PORT_IN_USE,
    // SIGINT is PostgreSQL's "fast" shutdown: it ends sessions instead of waiting for them.
    stopSignal: 'SIGINT',
    args: (port) => [
      '-D', join(dir, 'data'),
      '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1',
      '-c', `unix_socket_directories=${dir}`,
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
      '-c', 'shared_buffers=16MB',
      '-c', 'max_connections=30',
      // Keeps WAL a standby's base backup still needs, even when another backup's checkpoint would recycle it.
      '-c', 'wal_keep_size=128MB',
      ...settings.flatMap((setting) => ['-c', setting]),
    ],
  });
}

function withSql(server: RunningServer, bin: string): PostgresServer {
  return {
    ...server,
    sql: (query) =>
      runTool(join(bin, 'psql'), ['-h', server.dir, '-p', String(server.port), '-U', 'postgres', '-d', 'postgres', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', query]),
  };
}

/** initdb + postgres on 127.0.0.1, data on a temporary folder, fsync off. */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = join(requireBinary(['initdb'], postgresBinDirs()), '..');
  const dir = await postgresDir('pg');
  return withCleanup(dir, async () => {
    await runTool(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-N', '-E', 'UTF8', '--locale=C'], {
      ...postgresIdentity(),
      cwd: dir,
    });
    const hba = ['local all all trust', 'local replication all trust', ...(options.hba ?? ['host all all 127.0.0.1/32 trust'])];
    await writeFile(join(dir, 'data', 'pg_hba.conf'), hba.join('\n') + '\n');
    return withSql(await launchPostgres(bin, dir, /database system is ready to accept connections/), bin);
  });
}

export interface StandbyOptions {
  /**
   * false: a standby that refuses connections while in recovery (hot_standby=off),
   * answering "the database system is not accepting connections" (57P03).
   * Ready once it has entered standby mode.
   */
  hotStandby?: boolean;
}

/** A standby of `primary`, cloned with pg_basebackup -R (streaming replication over the Unix socket). */
export async function startPostgresStandby(primary: PostgresServer, options: StandbyOptions = {}): Promise<PostgresServer> {
  const hot = options.hotStandby ?? true;
  const bin = join(requireBinary(['pg_basebackup'], postgresBinDirs()), '..');
  const dir = await postgresDir('pg-standby');
  return withCleanup(dir, async () => {
    await runTool(
      join(bin, 'pg_basebackup'),
      ['-h', primary.dir, '-p', String(primary.port), '-U', 'postgres', '-D', join(dir, 'data'), '-R', '-X', 'stream', '-c', 'fast'],
      { ...postgresIdentity(), cwd: dir },
    );
    const ready = hot ? /database system is ready to accept read-only connections/ : /entering standby mode/;
    return withSql(await launchPostgres(bin, dir, ready, [`hot_standby=${hot ? 'on' : 'off'}`]), bin);
  });
}

// ---------------------------------------------------------------- mariadb

/** mariadb-install-db + mariadbd on 127.0.0.1, root without a password over its Unix socket. */
export async function startMariadb(): Promise<MariadbServer> {
  const server = requireBinary(['mariadbd', 'mysqld']);
  const installDb = requireBinary(['mariadb-install-db', 'mysql_install_db']);
  const client = requireBinary(['mariadb', 'mysql']);
  const dir = await makeDir('mariadb');
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  return withCleanup(dir, async () => {
    await runTool(installDb, [
      '--no-defaults',
      `--datadir=${data}`,
      '--user=root',
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
    ], { cwd: dir });
    const running = await launchServer({
      name: 'mariadbd',
      command: server,
      host: '127.0.0.1',
      dir,
      pickPort: () => freeTcpPort(),
      ready: /ready for connections/,
      portTaken: PORT_IN_USE,
      stopSignal: 'SIGTERM',
      args: (port) => [
        '--no-defaults',
        `--datadir=${data}`,
        // mariadbd refuses to run as root unless told to.
        '--user=root',
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${socket}`,
        `--pid-file=${join(dir, 'mysqld.pid')}`,
        '--skip-name-resolve',
        '--skip-log-bin',
        '--innodb-buffer-pool-size=16M',
        '--innodb-flush-log-at-trx-commit=0',
        '--max-connections=30',
      ],
    });
    return {
      ...running,
      sql: (query) => runTool(client, ['--no-defaults', '-S', socket, '-u', 'root', '-N', '-B', '-e', query]),
    };
  });
}

// ---------------------------------------------------------------- dnsmasq

export interface DnsmasqOptions {
  /** Loopback address to serve on: 127.0.0.1 (default) or ::1. */
  host?: string;
  /**
   * name → address answers (`--address=/name/address`, which covers subdomains too);
   * an empty address makes the name NXDOMAIN. Other names are REFUSED: there is no upstream.
   */
  addresses?: Record<string, string>;
  /**
   * name → address records (`--host-record`), answered locally for every type:
   * a query for another type gets NOERROR with no answer.
   */
  hostRecords?: Record<string, string>;
  /** A hosts file served as well (`--addn-hosts`); dnsmasq reads it again on SIGHUP. */
  hostsFile?: string;
  /** SRV records (`--srv-host=name,target,port,priority,weight`). */
  srvRecords?: Array<{ name: string; target: string; port: number; priority?: number; weight?: number }>;
}

/** dnsmasq in the foreground as an authoritative-only server: no upstreams, no /etc/hosts. */
export async function startDnsmasq(options: DnsmasqOptions): Promise<RunningServer> {
  const command = requireBinary(['dnsmasq']);
  const host = options.host ?? '127.0.0.1';
  const dir = await makeDir('dnsmasq');
  return withCleanup(dir, () =>
    launchServer({
      name: 'dnsmasq',
      command,
      host,
      dir,
      pickPort: () => freeTcpUdpPort(host),
      ready: /started, version/,
      portTaken: PORT_IN_USE,
      stopSignal: 'SIGTERM',
      args: (port) => [
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--no-resolv',
        '--no-hosts',
        '--no-poll',
        `--port=${port}`,
        `--listen-address=${host}`,
        '--bind-interfaces',
        `--pid-file=${join(dir, 'dnsmasq.pid')}`,
        '--log-facility=-',
        ...Object.entries(options.addresses ?? {}).map(([name, address]) => `--address=/${name}/${address}`),
        ...Object.entries(options.hostRecords ?? {}).flatMap(([name, address]) => [`--host-record=${name},${address}`, `--local=/${name}/`]),
        ...(options.hostsFile ? [`--addn-hosts=${options.hostsFile}`] : []),
        ...(options.srvRecords ?? []).map((r) => `--srv-host=${r.name},${r.target},${r.port},${r.priority ?? 0},${r.weight ?? 0}`),
      ],
    }),
  );
}

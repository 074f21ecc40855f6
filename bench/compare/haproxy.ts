/**
 * HAProxy `mode tcp` with the same services: `nbthread` threads, tcp-check
 * health checks with the same inter/fastinter/downinter/rise/fall, redispatch
 * on failed connects, sessions on a failed server shut down. Member states and
 * drain go through its stats socket (`show servers state`, `set server … state drain`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { stopChild } from '../lib/children.js';
import { freeTcpPort, LOOPBACK, withFreshPorts } from '../lib/ports.js';
import { hardOpenFileLimit, listenersReady, spawnProxy, waitReady } from './process.js';
import { memberKey, type MemberStates, type RunningTarget, type Target, type TargetOptions } from './target.js';

export const HAPROXY = process.env.HAPROXY ?? '/usr/sbin/haproxy';

export function haproxyConfig(options: TargetOptions, listen: Map<string, number>, socketPath: string): string {
  const h = options.health;
  const check = h
    ? `check inter ${h.intervalMs}ms fastinter ${h.fastIntervalMs}ms downinter ${h.downIntervalMs}ms rise ${h.rise} fall ${h.fall} on-marked-down shutdown-sessions`
    : '';
  // HAProxy needs two descriptors per connection and refuses to start if it cannot raise its limit to that.
  const maxconn = Math.min(options.maxConnections, Math.floor((hardOpenFileLimit() - 200) / 2));
  const lines = [
    'global',
    `  nbthread ${options.peerWorkers}`,
    `  maxconn ${maxconn}`,
    `  stats socket ${socketPath} mode 600 level admin`,
    '',
    'defaults',
    '  mode tcp',
    `  timeout connect ${options.connectTimeoutMs}ms`,
    '  timeout client 1h',
    '  timeout server 1h',
    ...(h ? [`  timeout check ${h.timeoutMs}ms`] : []),
    `  retries ${options.retries}`,
    '  option redispatch 1',
    '',
  ];
  for (const s of options.services) {
    if (s.protocol !== 'tcp') continue;
    lines.push(
      `frontend f_${s.name}`,
      `  bind ${LOOPBACK}:${listen.get(s.name)}`,
      `  maxconn ${maxconn}`,
      `  default_backend b_${s.name}`,
      '',
      `backend b_${s.name}`,
      '  balance roundrobin',
      ...(h && s.check === 'http' ? ['  option httpchk GET / HTTP/1.0', '  http-check expect status 200'] : []),
      ...s.members.map((m, i) => `  server m${i} ${memberKey(m)} ${check}`.trimEnd()),
      '',
    );
  }
  return lines.join('\n');
}

/** One command on the stats socket; the whole answer. */
export function statsCommand(socketPath: string, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`haproxy stats socket: ${command}: timeout`)));
    socket.on('connect', () => socket.write(command + '\n'));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

/** `show servers state` → backend → server name → state, in Switchyard's words. */
export function parseServersState(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let header: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# ')) {
      header = line.slice(2).trim().split(/\s+/);
      continue;
    }
    const f = line.trim().split(/\s+/);
    if (header.length === 0 || f.length < header.length - 1) continue;
    const get = (name: string): string => f[header.indexOf(name)] ?? '';
    const op = Number(get('srv_op_state'));
    const admin = Number(get('srv_admin_state'));
    // srv_admin_state bits: 0x01|0x02|0x04|0x20 maintenance (forced/inherited/resolution), 0x08|0x10 drain.
    const state = admin & 0x27 ? 'disabled' : op === 0 ? 'down' : admin & 0x18 ? 'draining' : op === 2 ? 'up' : 'unknown';
    (out[get('be_name')] ??= {})[get('srv_name')] = state;
  }
  return out;
}

export const haproxy: Target = {
  name: 'haproxy',
  activeChecks: true,
  missing: () => (existsSync(HAPROXY) ? null : `${HAPROXY} not installed`),
  version() {
    try {
      return execFileSync(HAPROXY, ['-v'], { encoding: 'utf8' }).split('\n')[0]!.replace(/ - https?:.*/, '').trim();
    } catch {
      return 'haproxy (version unknown)';
    }
  },
  unsupported: (protocol) => (protocol === 'udp' ? 'no UDP in HAProxy (free version)' : null),
  async start(options: TargetOptions): Promise<RunningTarget> {
    return withFreshPorts(async () => {
      const listen = new Map<string, number>();
      for (const s of options.services) listen.set(s.name, await freeTcpPort());
      const socketPath = join(options.workDir, 'haproxy.sock');
      const config = haproxyConfig(options, listen, socketPath);
      const file = join(options.workDir, 'haproxy.cfg');
      writeFileSync(file, config);
      const proc = spawnProxy(HAPROXY, ['-db', '-f', file], join(options.workDir, 'haproxy.log'));
      const tcp = options.services.filter((s) => s.protocol === 'tcp');
      const address = (service: string) => ({ host: LOOPBACK, port: listen.get(service)! });
      const memberStates = async (): Promise<MemberStates> => {
        const raw = parseServersState(await statsCommand(socketPath, 'show servers state'));
        const out: MemberStates = {};
        for (const s of tcp) {
          const states: Record<string, string> = {};
          s.members.forEach((m, i) => (states[memberKey(m)] = raw[`b_${s.name}`]?.[`m${i}`] ?? 'unknown'));
          out[s.name] = states;
        }
        return out;
      };
      await waitReady(
        proc,
        'haproxy',
        async () => {
          if (!(await listenersReady(tcp.map((s) => ({ protocol: 'tcp' as const, ...address(s.name) }))))) return false;
          if (!options.health) return true;
          const states = await memberStates();
          return tcp.every((s) => Object.values(states[s.name] ?? {}).every((v) => v === 'up'));
        },
        { portTaken: 'Address already in use' },
      );
      return {
        pid: proc.child.pid,
        config,
        address,
        memberStates,
        async drain(service: string, member: string) {
          const s = tcp.find((x) => x.name === service);
          const i = s?.members.findIndex((m) => memberKey(m) === member) ?? -1;
          if (i < 0) throw new Error(`haproxy drain: no member ${member} in ${service}`);
          const answer = await statsCommand(socketPath, `set server b_${service}/m${i} state drain`);
          if (answer.trim() !== '') throw new Error(`haproxy drain: ${answer.trim()}`);
        },
        stop: () => stopChild(proc.child, 'SIGTERM', 3000),
      };
    });
  },
};

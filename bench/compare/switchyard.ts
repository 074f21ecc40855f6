/** Switchyard under test: `node dist/cli.js -c FILE.yaml`, with its admin API for member states and drain. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { stopChild } from '../lib/children.js';
import { freeTcpPort, freeUdpPort, LOOPBACK, withFreshPorts } from '../lib/ports.js';
import { httpJson } from './admin-http.js';
import { listenersReady, spawnProxy, waitReady } from './process.js';
import { memberKey, type CheckKind, type HealthSpec, type MemberStates, type MemberSpec, type RunningTarget, type ServiceSpec, type Target, type TargetOptions } from './target.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const SWITCHYARD_CLI = process.env.SWITCHYARD_CLI ?? join(REPO, 'dist', 'cli.js');

const ms = (n: number): string => `${n}ms`;

function healthCheck(check: CheckKind, h: HealthSpec | null): object {
  if (!h) return { type: 'none' };
  return {
    type: check,
    ...(check === 'dns' ? { query: 'bench.example' } : {}),
    ...(check === 'http' ? { path: '/', expectStatus: 200 } : {}),
    interval: ms(h.intervalMs),
    fastInterval: ms(h.fastIntervalMs),
    downInterval: ms(h.downIntervalMs),
    timeout: ms(h.timeoutMs),
    rise: h.rise,
    fall: h.fall,
  };
}

/**
 * The YAML configuration (DESIGN.md's contract) for these services; `tcpExtra`
 * adds keys to every TCP service (a variant such as replay on silence).
 */
export function switchyardConfig(options: TargetOptions, listen: Map<string, number>, adminPort: number, tcpExtra: Record<string, unknown> = {}): string {
  const doc = {
    log: { level: 'warn', access: false },
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    admin: { listen: `${LOOPBACK}:${adminPort}` },
    services: options.services.map((s: ServiceSpec) => ({
      name: s.name,
      protocol: s.protocol,
      listen: `${LOOPBACK}:${listen.get(s.name)}`,
      balance: 'roundrobin',
      ...(s.protocol === 'tcp'
        ? {
            connectTimeout: ms(options.connectTimeoutMs),
            retries: options.retries,
            maxConnections: options.maxConnections,
            onMemberDown: 'close',
            ...tcpExtra,
          }
        : {}),
      ...(s.protocol === 'udp' ? { responsesPerSession: s.udpResponses ?? 0 } : {}),
      healthCheck: healthCheck(s.check, options.health),
      members: s.members.map((m) => ({ address: memberKey(m) })),
    })),
  };
  return dump(doc, { lineWidth: 120, flowLevel: 3 });
}

interface StatusBody {
  services?: { name?: string; members?: { id?: string; address?: string; state?: string }[] }[];
}

/** Switchyard as a target; `name` and `tcpExtra` make a variant column with more keys on its TCP services. */
export function switchyardTarget(name = 'switchyard', tcpExtra: Record<string, unknown> = {}, describe = 'this tree'): Target {
  return {
    name,
    activeChecks: true,
    missing: () => (existsSync(SWITCHYARD_CLI) ? null : `${SWITCHYARD_CLI} not found (run npm run build)`),
    version: () => `switchyard, ${describe}`,
    unsupported: () => null,
    async start(options: TargetOptions): Promise<RunningTarget> {
      return withFreshPorts(async () => {
        const listen = new Map<string, number>();
        for (const s of options.services) listen.set(s.name, s.protocol === 'tcp' ? await freeTcpPort() : await freeUdpPort());
        const adminPort = await freeTcpPort();
        const config = switchyardConfig(options, listen, adminPort, tcpExtra);
        const file = join(options.workDir, 'switchyard.yaml');
        writeFileSync(file, config);
        // Cluster workers inherit the primary's execArgv, so every process writes its own profile.
      const profile = options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir] : [];
      const proc = spawnProxy(process.execPath, [...profile, SWITCHYARD_CLI, '-c', file], join(options.workDir, 'switchyard.log'));
        const address = (service: string): MemberSpec => ({ host: LOOPBACK, port: listen.get(service)! });

        const memberStates = async (): Promise<MemberStates> => {
          const { status, body } = await httpJson('GET', LOOPBACK, adminPort, '/status');
          if (status !== 200) throw new Error(`switchyard GET /status: HTTP ${status}`);
          const out: MemberStates = {};
          for (const s of (body as StatusBody).services ?? []) {
            const states: Record<string, string> = {};
            for (const m of s.members ?? []) states[m.id ?? m.address ?? '?'] = m.state ?? 'unknown';
            out[s.name ?? '?'] = states;
          }
          return out;
        };
        const allUp = async (): Promise<boolean> => {
          if (!options.health) return true;
          const states = await memberStates();
          return options.services.every((s) => s.members.every((m) => states[s.name]?.[memberKey(m)] === 'up'));
        };
        await waitReady(
          proc,
          'switchyard',
          async () =>
            (await listenersReady(options.services.map((s) => ({ protocol: s.protocol, ...address(s.name) })))) && (await allUp()),
          { portTaken: 'EADDRINUSE' },
        );
        return {
          pid: proc.child.pid,
          config,
          address,
          memberStates,
          async drain(service: string, member: string) {
            const { status, body } = await httpJson('POST', LOOPBACK, adminPort, `/services/${service}/members/${member}/drain`);
            if (status >= 300) throw new Error(`switchyard drain ${service}/${member}: HTTP ${status} ${JSON.stringify(body)}`);
          },
          stop: () => stopChild(proc.child, 'SIGTERM', 5000),
        };
      });
    },
  };
}

export const switchyard = switchyardTarget();

/** Hung members: a connection whose member stays silent 250 ms moves to another, the client's bytes replayed. */
export const switchyardReplay = switchyardTarget(
  'switchyard+replay',
  { firstByteTimeout: '250ms', replayOnSilence: true },
  'this tree with firstByteTimeout 250ms, replayOnSilence',
);

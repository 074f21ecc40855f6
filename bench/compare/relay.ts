/**
 * The Node.js relays run as columns (`pipe`, `floor`): a child process given its services
 * as JSON on the command line, which says `listening` over IPC once every port is bound,
 * with how many processes carry the load. Both sides of that exchange are here, and the
 * idle sweep both relays' UDP sessions share.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { track, stopChild } from '../lib/children.js';
import { freeTcpPort, freeUdpPort, LOOPBACK, withFreshPorts } from '../lib/ports.js';
import type { RunningTarget, TargetOptions } from './target.js';

export interface RelaySpec {
  /** How many processes are to carry the load (the floor relay; the pipe proxy is always one). */
  processes: number;
  services: { protocol: 'tcp' | 'udp'; host: string; port: number; members: { host: string; port: number }[] }[];
}

export type RelayService = RelaySpec['services'][number];

interface RelayMessage {
  type?: string;
  message?: string;
  processes?: number;
}

/** Forks a relay process and resolves once it is listening (rejects if it fails or exits first), with how many processes carry the load. */
export function forkRelay(entry: string, args: string[]): Promise<{ child: ChildProcess; processes: number }> {
  const child = track(fork(entry, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] }));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${entry} exited (${code}) while starting`)));
    child.on('message', (msg: RelayMessage) => {
      if (msg.type === 'listening') resolve({ child, processes: msg.processes ?? 1 });
      else if (msg.type === 'error') reject(new Error(msg.message));
    });
  });
}

/** Starts a relay column on fresh loopback ports, one per service. */
export function startRelay(entry: string, options: TargetOptions, processes: number): Promise<RunningTarget> {
  return withFreshPorts(async () => {
    const listen = new Map<string, number>();
    for (const s of options.services) listen.set(s.name, s.protocol === 'tcp' ? await freeTcpPort() : await freeUdpPort());
    const spec: RelaySpec = {
      processes,
      services: options.services.map((s) => ({ protocol: s.protocol, host: LOOPBACK, port: listen.get(s.name)!, members: s.members })),
    };
    const { child, processes: running } = await forkRelay(entry, [JSON.stringify(spec)]);
    return {
      pid: child.pid,
      config: JSON.stringify({ ...spec, processes: running }, null, 2),
      address: (service: string) => ({ host: LOOPBACK, port: listen.get(service)! }),
      stop: () => stopChild(child, 'SIGKILL'),
    };
  });
}

/**
 * The child's side: reads its spec, runs `start` (which resolves to how many processes carry the
 * load), and reports `listening` or the error; exits when its parent goes.
 */
export function relayMain(start: (spec: RelaySpec) => Promise<number>): void {
  process.on('disconnect', () => process.exit(0));
  start(JSON.parse(process.argv[2] ?? '{}') as RelaySpec).then(
    (processes) => process.send?.({ type: 'listening', processes } satisfies RelayMessage),
    (err: Error) => {
      process.send?.({ type: 'error', message: err.message });
      process.exit(1);
    },
  );
}

/** A relay's UDP session: when it last saw a datagram (Date.now()). */
export interface IdleTracked {
  lastSeen: number;
}

/** Every second, closes and forgets the UDP sessions that have seen no datagram for 10 s. */
export function sweepIdleSessions<S extends IdleTracked>(sessions: Map<string, S>, close: (session: S) => void): void {
  setInterval(() => {
    const old = Date.now() - 10_000;
    for (const [key, session] of sessions) {
      if (session.lastSeen < old) {
        close(session);
        sessions.delete(key);
      }
    }
  }, 1000).unref();
}

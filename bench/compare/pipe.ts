/** The plain Node `socket.pipe` proxy as a column (`--compare pipe`): the floor Switchyard must rise above. */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { track, stopChild } from '../lib/children.js';
import { freeTcpPort, freeUdpPort, LOOPBACK, withFreshPorts } from '../lib/ports.js';
import type { PipeSpec } from './pipe-proxy.js';
import type { RunningTarget, Target, TargetOptions } from './target.js';

const ENTRY = fileURLToPath(new URL('./pipe-proxy.js', import.meta.url));

export const pipe: Target = {
  name: 'pipe',
  activeChecks: false,
  withoutChecks: 'no health checks',
  missing: () => null,
  version: () => `plain Node socket.pipe proxy, ${process.version}, one process`,
  unsupported: () => null,
  async start(options: TargetOptions): Promise<RunningTarget> {
    return withFreshPorts(async () => {
      const listen = new Map<string, number>();
      for (const s of options.services) listen.set(s.name, s.protocol === 'tcp' ? await freeTcpPort() : await freeUdpPort());
      const spec: PipeSpec = {
        services: options.services.map((s) => ({ protocol: s.protocol, host: LOOPBACK, port: listen.get(s.name)!, members: s.members })),
      };
      const child = track(fork(ENTRY, [JSON.stringify(spec)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] }));
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`pipe proxy exited (${code}) while starting`)));
        child.on('message', (msg: { type?: string; message?: string }) => {
          if (msg.type === 'listening') resolve();
          else if (msg.type === 'error') reject(new Error(msg.message));
        });
      });
      return {
        pid: child.pid,
        config: JSON.stringify(spec, null, 2),
        address: (service: string) => ({ host: LOOPBACK, port: listen.get(service)! }),
        stop: () => stopChild(child, 'SIGKILL'),
      };
    });
  },
};

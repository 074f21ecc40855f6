/**
 * NGINX `stream` with the same services: `worker_processes` workers, passive
 * health only (the open-source stream module has no active checks: a member
 * is skipped for `fail_timeout` after `max_fails` failed connects, and a
 * failed connect moves on to the next member), UDP with `proxy_responses`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopChild } from '../lib/children.js';
import { freeTcpPort, freeUdpPort, LOOPBACK, withFreshPorts } from '../lib/ports.js';
import { hardOpenFileLimit, listenersReady, spawnProxy, waitReady } from './process.js';
import { memberKey, type RunningTarget, type Target, type TargetOptions } from './target.js';

export const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';

/** Where `stream` comes from: built in, a dynamic module to load (Debian: libnginx-mod-stream), or missing. */
function streamModule(): { load?: string; missing?: string } {
  const r = spawnSync(NGINX, ['-V'], { encoding: 'utf8' });
  const build = `${r.stderr ?? ''}${r.stdout ?? ''}`;
  if (!/--with-stream=dynamic/.test(build)) return /--with-stream(\s|$)/.test(build) ? {} : { missing: 'nginx built without the stream module' };
  const prefix = /--modules-path=(\S+)/.exec(build)?.[1] ?? '/usr/lib/nginx/modules';
  const file = join(prefix, 'ngx_stream_module.so');
  return existsSync(file) ? { load: file } : { missing: `nginx has no stream module (${file}; Debian: apt-get install libnginx-mod-stream)` };
}

export function nginxConfig(options: TargetOptions, listen: Map<string, number>, workDir: string): string {
  const fall = options.health?.fall ?? 1;
  // Passive health: `fall` failed connects take a member out for about what active checks would need to bring it back.
  const failTimeoutMs = options.health ? Math.max(1000, options.health.rise * options.health.downIntervalMs * 2) : 10_000;
  const load = streamModule().load;
  const lines = [
    ...(load ? [`load_module ${load};`] : []),
    'daemon off;',
    `worker_processes ${options.peerWorkers};`,
    `pid ${join(workDir, 'nginx.pid')};`,
    `error_log ${join(workDir, 'nginx-error.log')} warn;`,
    // Workers do not share connections evenly, so each may need room for all of them (two sockets per connection).
    `worker_rlimit_nofile ${Math.min(hardOpenFileLimit(), options.maxConnections * 2 + 1024)};`,
    `events { worker_connections ${Math.min(hardOpenFileLimit() - 512, options.maxConnections * 2 + 512)}; }`,
    'stream {',
  ];
  for (const s of options.services) {
    lines.push(
      `  upstream u_${s.name} {`,
      ...s.members.map((m) => `    server ${memberKey(m)} max_fails=${fall} fail_timeout=${Math.ceil(failTimeoutMs / 1000)}s;`),
      '  }',
      '  server {',
      `    listen ${LOOPBACK}:${listen.get(s.name)}${s.protocol === 'udp' ? ' udp' : ''};`,
      `    proxy_pass u_${s.name};`,
      `    proxy_connect_timeout ${options.connectTimeoutMs}ms;`,
      '    proxy_next_upstream on;',
      `    proxy_next_upstream_tries ${options.retries + 1};`,
      ...(s.protocol === 'udp' ? ['    proxy_responses 1;', '    proxy_timeout 10s;'] : ['    proxy_timeout 1h;']),
      '  }',
    );
  }
  lines.push('}', '');
  return lines.join('\n');
}

export const nginx: Target = {
  name: 'nginx',
  activeChecks: false,
  withoutChecks: 'no active health checks (passive max_fails only)',
  missing: () => (existsSync(NGINX) ? (streamModule().missing ?? null) : `${NGINX} not installed`),
  version() {
    const r = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
    return `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().replace(/^nginx version: /, '') || 'nginx (version unknown)';
  },
  unsupported: () => null,
  async start(options: TargetOptions): Promise<RunningTarget> {
    return withFreshPorts(async () => {
      const listen = new Map<string, number>();
      for (const s of options.services) listen.set(s.name, s.protocol === 'tcp' ? await freeTcpPort() : await freeUdpPort());
      const config = nginxConfig(options, listen, options.workDir);
      const file = join(options.workDir, 'nginx.conf');
      writeFileSync(file, config);
      const proc = spawnProxy(NGINX, ['-p', options.workDir, '-e', join(options.workDir, 'nginx-error.log'), '-c', file], join(options.workDir, 'nginx.log'));
      const address = (service: string) => ({ host: LOOPBACK, port: listen.get(service)! });
      await waitReady(proc, 'nginx', () => listenersReady(options.services.map((s) => ({ protocol: s.protocol, ...address(s.name) }))), {
        portTaken: 'Address already in use',
        diagnostics: () => readErrorLog(options.workDir),
      });
      return {
        pid: proc.child.pid,
        config,
        address,
        stop: () => stopChild(proc.child, 'SIGTERM', 3000),
      };
    });
  },
};

function readErrorLog(workDir: string): string {
  try {
    return readFileSync(join(workDir, 'nginx-error.log'), 'utf8').trimEnd().split('\n').slice(-10).join('\n');
  } catch {
    return '';
  }
}

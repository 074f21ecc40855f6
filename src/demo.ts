/**
 * `switchyard demo`: three local HTTP backends with the balancer in front,
 * health-checked, with the admin API on, so a newcomer can watch balancing,
 * drain and failover with nothing but curl.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Switchyard } from './balancer.js';
import { parseConfig } from './config/load.js';
import { createLogger } from './observe/logger.js';

function startBackend(n: number): Promise<Server> {
  const server = createServer((req, res) => {
    const { port } = server.address() as AddressInfo;
    res.setHeader('content-type', 'text/plain');
    res.end(req.url === '/healthz' ? 'ok\n' : `hello from demo backend ${n} (127.0.0.1:${port})\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function demoYaml(ports: number[], listenPort: number, adminPort: number): string {
  return `log: { level: info, access: true }
workers: 1
admin: { listen: 127.0.0.1:${adminPort} }
services:
  - name: demo
    protocol: tcp
    listen: 127.0.0.1:${listenPort}
    balance: roundrobin
    drainTimeout: 10s
    healthCheck: { type: http, path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 2 }
    members:
${ports.map((p) => `      - { address: 127.0.0.1:${p} }`).join('\n')}
`;
}

async function startOn(ports: number[], listenPort: number, adminPort: number): Promise<Switchyard> {
  const { config, errors } = parseConfig(demoYaml(ports, listenPort, adminPort), '<demo>');
  if (!config) throw new Error(errors.map(String).join('\n'));
  const lb = new Switchyard(config, { logger: createLogger({ level: config.log.level }) });
  await lb.start();
  return lb;
}

export async function runDemo(): Promise<void> {
  const backends = await Promise.all([1, 2, 3].map(startBackend));
  const ports = backends.map((b) => (b.address() as AddressInfo).port);
  let lb: Switchyard;
  try {
    lb = await startOn(ports, 8080, 9901);
  } catch {
    // 8080 or 9901 taken: any free ports will do for a demo.
    lb = await startOn(ports, 0, 0);
  }
  const listen = lb.address('demo');
  const admin = lb.adminAddress();
  const base = `http://127.0.0.1:${listen.port}`;
  const adminBase = `http://127.0.0.1:${admin?.port}`;
  process.stderr.write(`
Switchyard demo: three backends on 127.0.0.1:${ports.join(', ')} behind ${base}

  Try it:
    curl ${base}/                         # repeat: answers rotate over the backends
    curl ${adminBase}/status              # members, state, connections, last check
    curl ${adminBase}/metrics             # Prometheus metrics
    curl -X POST ${adminBase}/services/demo/members/127.0.0.1:${ports[0]}/drain
    curl -X POST ${adminBase}/services/demo/members/127.0.0.1:${ports[0]}/enable
    open ${adminBase}/                    # the dashboard

  Ctrl-C drains and stops.

`);
  const stop = () => {
    void lb.stop().then(() => {
      for (const b of backends) b.close();
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

// `workers: 2`: an agent check's weight, which changes no member state, reaches the workers as it
// changes (not with the next one-second snapshot), as it takes effect at once in one process.
import t from 'tap';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { greetingServer } from '../helpers/backends.js';
import { startCli, statusMembers, until } from '../helpers/cli.js';

t.setTimeout(60_000);

/** An agent on `host:port` that answers each check with what `reply()` says now. */
async function agent(host: string, port: number, reply: () => string): Promise<Server> {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.end(`${reply()}\n`);
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

/** One new connection through the proxy; the member's greeting names it. */
function greeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(3_000, () => s.destroy(new Error('no greeting within 3 s')));
    s.once('data', (d) => {
      resolve(d.toString());
      s.destroy();
    });
    s.once('error', reject);
  });
}

t.test('an agent weight of 0% stops both workers sending new connections to that member at once', async (t) => {
  // Two loopback addresses, so that each member has an agent of its own on the same port.
  const a = await greetingServer('a', { host: '127.0.0.2' });
  const b = await greetingServer('b', { host: '127.0.0.3' });
  let weightA = '100%';
  const agentA = await agent('127.0.0.2', 0, () => `up ${weightA}`);
  const agentPort = (agentA.address() as AddressInfo).port;
  const agentB = await agent('127.0.0.3', agentPort, () => 'up 100%');
  t.teardown(() => {
    agentA.close();
    agentB.close();
    return Promise.all([a.close(), b.close()]);
  });

  const r = await startCli(
    t,
    `workers: 2
admin: 127.0.0.1:0
log: { access: true }
services:
  - name: web
    listen: 127.0.0.1:0
    healthCheck: { type: agent, port: ${agentPort}, interval: 100ms, rise: 1, fall: 1, timeout: 500ms }
    members: [ "${a.address}", "${b.address}" ]
`,
  );
  await until('members up', 5_000, async () => (await statusMembers(r.admin)).every((m) => m.state === 'up'));
  const pids = () => new Set(r.lines.filter((l) => l.msg === 'access' && l.member === a.address).map((l) => l.pid));
  for (let i = 0; i < 400 && pids().size < 2; i++) await greeting(r.port);
  await until('both workers sent connections to a', 2_000, () => pids().size === 2);

  weightA = '0%';
  const weight = async () => (await statusMembers(r.admin)).find((m) => m.id === a.address) as { weight?: number } | undefined;
  await until('the primary reads weight 0 for a', 3_000, async () => (await weight())?.weight === 0);
  // At once: the first of these start within a few ms of the primary's reading, well inside the snapshot interval.
  const since = r.lines.length;
  const after = () => r.lines.slice(since).filter((l) => l.msg === 'access');
  const served: string[] = [];
  for (let i = 0; i < 400 && (i < 40 || new Set(after().map((l) => l.pid)).size < 2); i++) served.push(await greeting(r.port));
  t.same([...new Set(served)], ['b'], `every new connection (${served.length}) went to b`);
  await until('access lines from both workers', 2_000, () => new Set(after().map((l) => l.pid)).size === 2);
  t.same(after().filter((l) => l.member !== b.address), [], 'through both workers, to b only');
});

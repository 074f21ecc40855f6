// `workers: 2` with a UDP service end to end: a real primary with two workers reading the one
// listening socket the primary shares (Node 20) or one each (SO_REUSEPORT); members as child processes.
import t, { type Test } from 'tap';
import { START_MS, startCli, statusMembers, until, type StartedCli } from '../helpers/cli.js';
import { startChildUdpBackend, udpClient, type ChildUdpBackend, type UdpClient } from '../helpers/udp-backends.js';

t.setTimeout(90_000);

function config(members: ChildUdpBackend[]): string {
  return `workers: 2
admin: 127.0.0.1:0
log: { access: true }
services:
  - name: dns
    protocol: udp
    listen: 127.0.0.1:0
    idleTimeout: 300ms
    healthCheck: { type: none }
    members:
${members.map((m) => `      - 127.0.0.1:${m.port}`).join('\n')}
`;
}

const accessPids = (r: StartedCli) => new Set(r.lines.filter((l) => l.msg === 'access').map((l) => l.pid));

/** One query from a client: the member's tag in the reply (`a|q` → `a`). */
async function ask(t: Test, c: UdpClient, text: string): Promise<string> {
  c.send(text);
  const reply = (await c.next(2000)).toString();
  t.equal(reply.slice(reply.indexOf('|') + 1), text, 'the reply carries the query');
  return reply.slice(0, reply.indexOf('|'));
}

t.test('both workers relay datagrams; a killed member (ICMP unreachable) loses its sessions to the other', async (t) => {
  const a = await startChildUdpBackend({ name: 'a' });
  const b = await startChildUdpBackend({ name: 'b' });
  t.teardown(() => Promise.all([a.kill(), b.kill()]));
  const r = await startCli(t, config([a, b]));
  await until('members up', 5_000, async () => (await statusMembers(r.admin)).every((m) => m.state === 'up'));

  const target = { host: '127.0.0.1', port: r.port };
  const clients: UdpClient[] = [];
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const names = new Set<string>();
  // Which worker reads a new client's first datagram is up to the kernel: go on (bounded) until both have.
  for (let i = 0; i < 200 && (accessPids(r).size < 2 || names.size < 2); i++) {
    const c = await udpClient(target);
    clients.push(c);
    names.add(await ask(t, c, `q${i}`));
    if (i % 10 === 9) await new Promise((res) => setTimeout(res, 400));
  }
  t.same([...names].sort(), ['a', 'b'], 'both members served');
  await until('access lines from two workers', 3_000, async () => accessPids(r).size === 2);
  t.notOk(accessPids(r).has(r.child.pid), 'the primary relays no datagram');

  // Fresh sessions on both members, then member a dies: its sessions move at their next datagram.
  const live: UdpClient[] = [];
  for (let i = 0; i < 8; i++) {
    const c = await udpClient(target);
    clients.push(c);
    live.push(c);
    await ask(t, c, `before${i}`);
  }
  await a.kill();
  for (const [i, c] of live.entries()) t.equal(await ask(t, c, `after${i}`), 'b', `client ${i} answered by b`);
});

t.test('a killed worker is restarted on the same UDP port and relays again', async (t) => {
  const a = await startChildUdpBackend({ name: 'a' });
  t.teardown(() => a.kill());
  const r = await startCli(t, config([a]));
  await until('member up', 5_000, async () => (await statusMembers(r.admin)).every((m) => m.state === 'up'));
  const target = { host: '127.0.0.1', port: r.port };
  const clients: UdpClient[] = [];
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  /** Fresh clients, one query each, until `enough` (bounded); sessions end (and log) after idleTimeout. */
  const askUntil = async (tag: string, enough: () => boolean) => {
    for (let i = 0; i < 200 && !enough(); i++) {
      const c = await udpClient(target);
      clients.push(c);
      t.equal(await ask(t, c, `${tag}${i}`), 'a');
      if (i % 10 === 9) await new Promise((res) => setTimeout(res, 400));
    }
  };
  await askUntil('q', () => accessPids(r).size === 2);
  await until('access lines from two workers', 3_000, async () => accessPids(r).size === 2);
  const [victim] = [...accessPids(r)] as number[];

  process.kill(victim!, 'SIGKILL');
  const restarted = await r.waitFor((l) => l.msg === 'worker restarted', START_MS);
  const fromFresh = () => r.lines.some((l) => l.msg === 'access' && l.pid === restarted.worker);
  await askUntil('after', fromFresh);
  await until('the new worker relayed a session', 3_000, fromFresh);
  t.ok(fromFresh(), 'the restarted worker serves the UDP port');
});

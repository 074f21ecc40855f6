/**
 * The reusePort probe against this Node.js: it must find SO_REUSEPORT exactly where Node.js has
 * the option (22.12 and later), and the options it builds must then bind two sockets to one port.
 * CI runs the suite on Node.js 20 (without) and 24 (with).
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type AddressInfo, type Server } from 'node:net';
import t from 'tap';
import { reusePortWorks, tcpListenOptions, udpSocketOptions } from '../../src/net/reuse-port.js';

t.setTimeout(20_000);

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const hasOption = major > 22 || (major === 22 && minor >= 12);

t.test(`the probe finds reusePort ${hasOption ? '' : 'missing '}on Node.js ${process.version}`, async (t) => {
  t.equal(await reusePortWorks(), hasOption);
  t.equal(await reusePortWorks(), hasOption, 'the same answer from the cached probe');
});

t.test('without reusePort the options are the plain ones', async (t) => {
  t.same(tcpListenOptions('127.0.0.1', 80, false), { host: '127.0.0.1', port: 80 });
  t.same(udpSocketOptions({ type: 'udp4' }, false), { type: 'udp4' });
});

/** Whether the socket bound; an EADDRINUSE is the answer, not a failure. */
function bound(s: Server | Socket): Promise<boolean> {
  return new Promise((resolve) => {
    s.once('listening', () => resolve(true));
    s.once('error', () => resolve(false));
  });
}

t.test('with reusePort, two TCP listeners and two UDP sockets share a port (where Node.js has it)', async (t) => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  t.teardown(() => {
    for (const s of servers) s.close();
    for (const s of sockets) s.close();
  });
  const listen = async (port: number): Promise<number> => {
    const s = createServer();
    servers.push(s);
    s.listen(tcpListenOptions('127.0.0.1', port, true));
    return (await bound(s)) ? (s.address() as AddressInfo).port : -1;
  };
  const bind = async (port: number): Promise<number> => {
    const s = createSocket(udpSocketOptions({ type: 'udp4' }, true));
    sockets.push(s);
    s.bind({ port, address: '127.0.0.1', exclusive: true });
    return (await bound(s)) ? s.address().port : -1;
  };
  const tcp = await listen(0);
  const udp = await bind(0);
  t.ok(tcp > 0 && udp > 0, 'the first of each binds');
  t.equal((await listen(tcp)) === tcp, hasOption, `a second TCP listener on the port ${hasOption ? 'binds' : 'is refused'}`);
  t.equal((await bind(udp)) === udp, hasOption, `a second UDP socket on the port ${hasOption ? 'binds' : 'is refused'}`);
});

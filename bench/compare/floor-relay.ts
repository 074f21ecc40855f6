/**
 * The Node.js floor, run as a child process: a relay on Switchyard's own raw handles
 * (net/raw-socket.ts, net/raw-udp.ts) and nothing else: no health checks, no sessions'
 * bookkeeping, no timeouts, logs or metrics; members taken in turn. As many processes as
 * Switchyard has workers, each binding the ports itself with SO_REUSEPORT (where Node.js has
 * it; else one process). What it cannot reach, no data path on Node's handles can: the gap
 * between it and HAProxy is Node's own cost per connection, per read and per datagram.
 */
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { RawSocket, takeConnections, type SocketEvents } from '../../src/net/raw-socket.js';
import { RawUdp, type DatagramEvents, type Sender } from '../../src/net/raw-udp.js';
import { reusePortWorks, tcpListenOptions, udpSocketOptions } from '../../src/net/reuse-port.js';
import { forkRelay, relayMain, sweepIdleSessions, type IdleTracked, type RelayService } from './relay.js';

interface Pair {
  client: RawSocket;
  up: RawSocket;
}

/** Events of `from`, relayed to `to`: its `drain` resumes `to`, which its full queue had paused. The same tables serve every connection. */
function relayEvents(from: 'client' | 'up', to: 'client' | 'up'): SocketEvents<Pair> {
  return {
    connect() {},
    data(p, chunk) {
      if (!p[to].write(chunk)) p[from].pause();
    },
    end(p) {
      p[to].end();
    },
    drain(p) {
      p[to].resume();
    },
    error(p) {
      p[to].destroy();
    },
    close(p) {
      p[to].destroy();
    },
  };
}

const CLIENT = relayEvents('client', 'up');
const UP = relayEvents('up', 'client');

function tcp(s: RelayService, reusePort: boolean): Promise<void> {
  let next = 0;
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(tcpListenOptions(s.host, s.port, reusePort), () => {
      takeConnections(
        server,
        (handle) => {
          const m = s.members[next++ % s.members.length]!;
          const p = {} as Pair;
          p.client = RawSocket.accept(handle, CLIENT, p);
          p.up = RawSocket.connect(m.host, m.port, UP, p);
          // As Switchyard's sessions do: bulk reads land in a buffer each socket keeps (net/raw-socket.ts).
          p.client.reuseReadBuffer();
          p.up.reuseReadBuffer();
          p.client.resume();
          p.up.resume();
        },
        () => {},
      );
      resolve();
    });
  });
}

interface UdpSession extends IdleTracked {
  front: RawUdp;
  up: RawUdp;
  address: string;
  port: number;
}

const UPSTREAM: DatagramEvents<UdpSession> = {
  message(u, msg) {
    u.lastSeen = Date.now();
    u.front.sendTo(msg, u.port, u.address);
  },
  connect() {},
  error() {},
};

/** One upstream socket per client address and port, closed after 10 s without a datagram. */
function udp(s: RelayService, reusePort: boolean): Promise<void> {
  let next = 0;
  const sessions = new Map<string, UdpSession>();
  const socket = createSocket(udpSocketOptions({ type: 'udp4' }, reusePort));
  let front!: RawUdp;
  const FRONT: DatagramEvents<undefined> = {
    message(_, msg, from: Sender) {
      const key = `${from.address}:${from.port}`;
      let u = sessions.get(key);
      if (u === undefined) {
        const m = s.members[next++ % s.members.length]!;
        u = { front, address: from.address, port: from.port, lastSeen: 0 } as UdpSession;
        u.up = RawUdp.connect(m.host, m.port, UPSTREAM, u);
        sessions.set(key, u);
      }
      u.lastSeen = Date.now();
      u.up.send(msg);
    },
    connect() {},
    error() {},
  };
  sweepIdleSessions(sessions, (u) => u.up.close());
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port: s.port, address: s.host, exclusive: true }, () => {
      front = RawUdp.adopt(socket, FRONT, undefined);
      resolve();
    });
  });
}

relayMain(async (spec) => {
  const reusePort = spec.processes > 1 && (await reusePortWorks());
  await Promise.all(spec.services.map((s) => (s.protocol === 'tcp' ? tcp(s, reusePort) : udp(s, reusePort))));
  // The first process starts the others, which bind the same ports.
  if (!reusePort || process.argv[3] === '--copy') return 1;
  await Promise.all(Array.from({ length: spec.processes - 1 }, () => forkRelay(process.argv[1]!, [process.argv[2]!, '--copy'])));
  return spec.processes;
});

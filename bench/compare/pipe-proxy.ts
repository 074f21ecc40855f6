/**
 * The plain Node proxy of issue 6's table, run as a child process: TCP with
 * `socket.pipe` both ways, UDP with one upstream socket per client, members
 * taken in turn, no health checks. It shows what Node gives for free.
 */
import { connect, createServer, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { relayMain, sweepIdleSessions, type RelayService } from './relay.js';

function tcp(s: RelayService): Promise<void> {
  let next = 0;
  const server = createServer((client: Socket) => {
    const m = s.members[next++ % s.members.length]!;
    const upstream = connect(m.port, m.host);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(s.port, s.host, () => resolve());
  });
}

function udp(s: RelayService): Promise<void> {
  let next = 0;
  const sessions = new Map<string, { socket: UdpSocket; lastSeen: number }>();
  const front = createSocket('udp4');
  front.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let session = sessions.get(key);
    if (!session) {
      const m = s.members[next++ % s.members.length]!;
      const socket = createSocket('udp4');
      socket.on('message', (reply) => front.send(reply, rinfo.port, rinfo.address));
      socket.on('error', () => {});
      socket.connect(m.port, m.host);
      session = { socket, lastSeen: Date.now() };
      sessions.set(key, session);
      const pending = session;
      socket.once('connect', () => pending.socket.send(msg));
      return;
    }
    session.lastSeen = Date.now();
    session.socket.send(msg);
  });
  sweepIdleSessions(sessions, (session) => session.socket.close());
  return new Promise((resolve, reject) => {
    front.once('error', reject);
    front.bind(s.port, s.host, () => resolve());
  });
}

relayMain(async (spec) => {
  await Promise.all(spec.services.map((s) => (s.protocol === 'tcp' ? tcp(s) : udp(s))));
  return 1;
});

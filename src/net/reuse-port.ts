/**
 * SO_REUSEPORT (`reusePort` in net and dgram, Node.js ≥ 22.12): several sockets bound to one port,
 * the kernel spreading TCP connections and UDP flows over them by a hash of the peer's address.
 * Under `workers`, each worker then binds its own listening sockets instead of sharing the
 * primary's: a UDP client's datagrams all reach the one worker that holds its session, and
 * long-lived connections are spread over the workers instead of left to whichever wakes first.
 *
 * Older Node.js versions ignore the option; there the second bind fails with EADDRINUSE, which is
 * how the probe tells.
 */
import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import { createServer, type ListenOptions, type Server } from 'node:net';

const PROBE_HOST = '127.0.0.1';

/** Typed here: the option is newer than the @types/node this project builds against. */
export function tcpListenOptions(host: string, port: number, reusePort: boolean): ListenOptions {
  // `exclusive`: a cluster worker binds the socket itself instead of asking the primary for its one.
  return reusePort ? ({ host, port, reusePort: true, exclusive: true } as ListenOptions) : { host, port };
}

export function udpSocketOptions(options: SocketOptions, reusePort: boolean): SocketOptions {
  return reusePort ? ({ ...options, reusePort: true } as SocketOptions) : options;
}

function listenTcp(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(tcpListenOptions(PROBE_HOST, port, true), () => resolve(server));
  });
}

function bindUdp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(udpSocketOptions({ type: 'udp4' }, true));
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ port, address: PROBE_HOST, exclusive: true }, () => resolve(socket));
  });
}

async function twoOnOnePort<S extends Server | Socket>(bind: (port: number) => Promise<S>, port: (s: S) => number): Promise<boolean> {
  const first = await bind(0);
  try {
    const second = await bind(port(first)).catch(() => undefined);
    second?.close();
    return second !== undefined;
  } finally {
    first.close();
  }
}

let probed: Promise<boolean> | undefined;

/** Whether this Node.js and kernel bind two TCP and two UDP sockets to one port with reusePort; probed once, on loopback. */
export function reusePortWorks(): Promise<boolean> {
  probed ??= (async () => {
    try {
      const tcp = await twoOnOnePort(listenTcp, (s) => (s.address() as { port: number }).port);
      return tcp && (await twoOnOnePort(bindUdp, (s) => s.address().port));
    } catch {
      return false;
    }
  })();
  return probed;
}

/**
 * Free loopback ports: bind port 0, read the port back, close, hand it on.
 * The port can be taken between close and the child's bind; callers that start
 * a child on it retry with a fresh port when the child reports EADDRINUSE.
 */
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

export const LOOPBACK = '127.0.0.1';

export function freeTcpPort(host = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A port free for both TCP and UDP (for services that listen on both, or to keep one number per member). */
export async function freeUdpPort(host = LOOPBACK): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freeTcpPort(host);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, host, () => socket.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free UDP port found on loopback');
}

/** Retries `start` with fresh ports while it fails with EADDRINUSE (the port was taken after we freed it). */
export async function withFreshPorts<T>(start: () => Promise<T>, attempts = 5): Promise<T> {
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await start();
    } catch (err) {
      lastError = err;
      if (!String((err as Error)?.message ?? err).includes('EADDRINUSE')) throw err;
    }
  }
  throw lastError;
}

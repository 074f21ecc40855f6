/**
 * A bench backend, run as a child process so the bench can SIGKILL, SIGSTOP,
 * SIGCONT and restart it like a real server. Started with one JSON argument
 * (a BackendSpec); tells the parent `{ type: 'listening', port }` over IPC,
 * answers `{ type: 'stats' }`, and exits when the parent goes away.
 */
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { dnsHandler, newStats, tcpHandler, type BackendKind } from './handlers.js';
import { memberTag } from './protocol.js';
import { now } from '../lib/clock.js';

export interface BackendSpec {
  kind: BackendKind;
  host: string;
  /** 0 picks a free port; a restart passes the port it had. */
  port: number;
  /** The member's index: its response tag (m000, m001, …) and DNS answer. */
  index: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as BackendSpec;
const stats = newStats();
const send = (msg: object): void => {
  if (process.connected) process.send!(msg);
};

process.on('disconnect', () => process.exit(0));
process.on('message', (msg: { type?: string }) => {
  if (msg?.type === 'stats') send({ type: 'stats', stats, at: now() });
});

if (spec.kind === 'dns') {
  const socket = createSocket({ type: spec.host.includes(':') ? 'udp6' : 'udp4' });
  socket.on('message', dnsHandler(socket, spec.index, stats));
  socket.on('error', (err) => {
    send({ type: 'error', message: err.message });
    process.exit(1);
  });
  socket.bind(spec.port, spec.host, () => {
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
      socket.setSendBufferSize(4 * 1024 * 1024);
    } catch {
      // The kernel caps these at rmem_max/wmem_max; the defaults still work.
    }
    send({ type: 'listening', port: socket.address().port });
  });
} else {
  const server = createServer(tcpHandler(spec.kind, memberTag(spec.index), stats));
  server.on('error', (err) => {
    send({ type: 'error', message: err.message });
    process.exit(1);
  });
  server.listen({ port: spec.port, host: spec.host, backlog: 4096 }, () => {
    const address = server.address();
    send({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
  });
}

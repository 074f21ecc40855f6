/**
 * What a backend does with each connection or datagram. One function per kind;
 * counters are plain numbers the parent reads through `stats`.
 */
import type { Socket } from 'node:net';
import type { Socket as UdpSocket, RemoteInfo } from 'node:dgram';
import { CLOSE_MARK, END_OF_REQUEST, HTTP10_MARK, dnsAnswer, response } from './protocol.js';

export type TcpKind = 'http' | 'echo' | 'sink' | 'source';
export type BackendKind = TcpKind | 'dns';

export interface BackendStats {
  connections: number;
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

export function newStats(): BackendStats {
  return { connections: 0, requests: 0, bytesIn: 0, bytesOut: 0 };
}

const ignore = (): void => {};

/** HTTP-shaped request/response: one fixed response per `\r\n\r\n`; `Connection: close` or HTTP/1.0 ends the connection. */
export function httpHandler(tag: string, stats: BackendStats): (socket: Socket) => void {
  const one = response(tag);
  const batches: Buffer[] = [one];
  const batch = (n: number): Buffer => {
    if (n > 64) return Buffer.concat(Array.from({ length: n }, () => one));
    while (batches.length < n) batches.push(Buffer.concat([batches[batches.length - 1]!, one]));
    return batches[n - 1]!;
  };
  return (socket) => {
    stats.connections++;
    socket.setNoDelay(true);
    socket.on('error', ignore);
    let matched = 0;
    socket.on('data', (chunk: Buffer) => {
      stats.bytesIn += chunk.length;
      let n = 0;
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        if (b === END_OF_REQUEST[matched]) {
          if (++matched === 4) {
            n++;
            matched = 0;
          }
        } else matched = b === 13 ? 1 : 0;
      }
      if (n === 0) return;
      stats.requests += n;
      const out = batch(n);
      stats.bytesOut += out.length;
      if (chunk.indexOf(CLOSE_MARK) !== -1 || chunk.indexOf(HTTP10_MARK) !== -1) socket.end(out);
      else socket.write(out);
    });
    socket.on('end', () => socket.end());
  };
}

export function echoHandler(stats: BackendStats): (socket: Socket) => void {
  return (socket) => {
    stats.connections++;
    socket.setNoDelay(true);
    socket.on('error', ignore);
    socket.on('data', (chunk: Buffer) => {
      stats.bytesIn += chunk.length;
      stats.bytesOut += chunk.length;
      if (!socket.write(chunk)) socket.pause();
    });
    socket.on('drain', () => socket.resume());
    socket.on('end', () => socket.end());
  };
}

/** Reads and discards; counts what arrived (the receiver's figure, as iperf3 reports it). */
export function sinkHandler(stats: BackendStats): (socket: Socket) => void {
  return (socket) => {
    stats.connections++;
    socket.on('error', ignore);
    socket.on('data', (chunk: Buffer) => {
      stats.bytesIn += chunk.length;
    });
    socket.on('end', () => socket.end());
  };
}

/** Sends one reused block as fast as the connection takes it, until the peer goes away. */
export function sourceHandler(stats: BackendStats, blockSize = 64 * 1024): (socket: Socket) => void {
  const block = Buffer.alloc(blockSize, 0x61);
  return (socket) => {
    stats.connections++;
    socket.on('error', ignore);
    const pump = (): void => {
      while (!socket.destroyed && socket.writable) {
        stats.bytesOut += block.length;
        if (!socket.write(block)) return;
      }
    };
    socket.on('drain', pump);
    socket.on('data', ignore);
    socket.on('end', () => socket.destroy());
    pump();
  };
}

export function tcpHandler(kind: TcpKind, tag: string, stats: BackendStats): (socket: Socket) => void {
  switch (kind) {
    case 'http':
      return httpHandler(tag, stats);
    case 'echo':
      return echoHandler(stats);
    case 'sink':
      return sinkHandler(stats);
    case 'source':
      return sourceHandler(stats);
  }
}

/** A DNS-like responder: every query is answered with this member's address. */
export function dnsHandler(socket: UdpSocket, index: number, stats: BackendStats): (msg: Buffer, rinfo: RemoteInfo) => void {
  return (msg, rinfo) => {
    stats.requests++;
    stats.bytesIn += msg.length;
    const out = dnsAnswer(msg, index);
    stats.bytesOut += out.length;
    socket.send(out, rinfo.port, rinfo.address);
  };
}

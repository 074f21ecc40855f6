/**
 * A whole balancer from YAML text, started in this process (createBalancer),
 * and a client that does one request/response exchange per connection (once,
 * or at a steady rate), for the end-to-end tests.
 */
import { connect } from 'node:net';
import type { Test } from 'tap';
import { createBalancer, parseConfig, type Switchyard } from '../../src/index.js';
import { createLogger } from '../../src/observe/logger.js';

export async function startBalancer(t: Test, yaml: string): Promise<Switchyard> {
  const { config, errors } = parseConfig(yaml, 'test.yaml');
  if (!config) throw new Error(errors.map(String).join('\n'));
  const lb = createBalancer(config, { logger: createLogger({ level: 'silent' }) });
  await lb.start();
  t.teardown(() => lb.stop());
  return lb;
}

export interface ExchangeResult {
  ok: boolean;
  ms: number;
  error?: string;
  reply?: string;
  /** The client's own address and port, as the proxy's access line names it (once connected). */
  client?: string;
}

/** Connects, writes `data`, and waits until `expect` bytes came back (or the end, or `timeoutMs`). */
export function exchange(port: number, data: string, timeoutMs = 3000, host = '127.0.0.1'): Promise<ExchangeResult> {
  const start = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ port, host, noDelay: true });
    let got = '';
    let client: string | undefined;
    let settled = false;
    const done = (ok: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, ms: performance.now() - start, error, reply: got, client });
    };
    const timer = setTimeout(() => done(false, 'timeout'), timeoutMs);
    socket.on('connect', () => {
      client = `${socket.localAddress}:${socket.localPort}`;
      socket.write(data);
    });
    socket.on('data', (d) => {
      got += d.toString();
      if (got.length >= data.length) done(got === data, got === data ? undefined : `unexpected reply ${JSON.stringify(got)}`);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
    socket.on('close', () => done(false, `closed after ${got.length} bytes`));
  });
}

/** Runs `exchange` every `everyMs` until `stop()` is called; returns every result with its start time. */
export function steadyLoad(port: number, everyMs: number) {
  const results: Array<ExchangeResult & { at: number }> = [];
  const pending = new Set<Promise<void>>();
  let n = 0;
  const timer = setInterval(() => {
    const at = performance.now();
    const p: Promise<void> = exchange(port, `hello ${n++}\n`).then((r) => {
      results.push({ ...r, at });
      pending.delete(p);
    });
    pending.add(p);
  }, everyMs);
  return {
    results,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      return results;
    },
  };
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

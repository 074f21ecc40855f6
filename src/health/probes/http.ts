/**
 * The HTTP check (HAProxy `option httpchk`, Envoy's HTTP checker): one
 * HTTP/1.1 GET of `path` on a fresh connection (`Connection: close`, no
 * agent, so no socket outlives the check); the status must be one of
 * `expectStatus`, and with `expectBody` the body must match within the
 * first 64 KiB.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { formatEndpoint } from '../../net/address.js';
import { abortText, MAX_REPLY_BYTES, printable, socketErrorText } from './exchange.js';
import { describeExpectation, matcher } from './expectation.js';
import type { Probe, ProbeResult } from './types.js';

export const USER_AGENT = 'switchyard-health-check';

export const probe: Probe = (target, check, signal) =>
  new Promise<ProbeResult>((resolve) => {
    let stage = 'while connecting';
    let req: ClientRequest | undefined;
    let settled = false;
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      req?.destroy();
      resolve(result);
    };
    const onAbort = () => finish({ ok: false, detail: `${abortText(signal)} ${stage}` });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      req = request({
        hostname: target.host,
        port: target.port,
        method: 'GET',
        path: check.path,
        agent: false,
        setHost: false,
        headers: {
          Host: check.host ?? formatEndpoint(target),
          'User-Agent': USER_AGENT,
          Accept: '*/*',
          Connection: 'close',
        },
      });
    } catch (err) {
      // A path or header Node refuses to send (control characters).
      return finish({ ok: false, detail: `cannot send request: ${err instanceof Error ? err.message : String(err)}` });
    }
    req.on('socket', (socket) => {
      socket.setNoDelay(true);
      if (socket.connecting) socket.once('connect', () => (stage = 'waiting for the response'));
      else stage = 'waiting for the response';
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (signal.aborted) return onAbort();
      const code = err.code ?? '';
      let what: string;
      if (code.startsWith('HPE_')) what = `bad HTTP response (${code})`;
      else if (err.message === 'socket hang up') what = 'connection closed by member before the response';
      else what = socketErrorText(err);
      finish({ ok: false, detail: what });
    });
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const head = `HTTP ${status}`;
      // Destroying the request mid-body makes the response emit 'error'; it is always handled here.
      res.on('error', (err) => {
        if (signal.aborted) return onAbort();
        finish({ ok: false, detail: `${head}, body cut short: ${socketErrorText(err)}` });
      });
      if (!check.expectStatus.includes(status)) return finish({ ok: false, detail: head });
      const expectBody = check.expectBody;
      if (!expectBody) return finish({ ok: true, detail: head });
      stage = 'reading the body';
      const test = matcher(expectBody);
      let body = Buffer.alloc(0);
      res.on('data', (chunk: Buffer) => {
        body = Buffer.concat([body, chunk]);
        if (test(body)) finish({ ok: true, detail: `${head}, body matched ${describeExpectation(expectBody)}` });
        else if (body.length > MAX_REPLY_BYTES) {
          finish({ ok: false, detail: `${head}, no ${describeExpectation(expectBody)} in the first ${MAX_REPLY_BYTES} bytes of the body` });
        }
      });
      res.on('end', () =>
        finish({
          ok: false,
          detail: `${head}, body has no ${describeExpectation(expectBody)}: ${body.length > 0 ? printable(body) : 'empty'}`,
        }),
      );
    });
    req.end();
  });

/**
 * UDP failover with a real DNS server: two dnsmasq members behind the listener,
 * one SIGKILLed in the middle of a steady query stream. dnsmasq is required
 * (installed by the CI script); a missing binary fails the test.
 */
import t, { type Test } from 'tap';
import type { RunningServer } from '../helpers/servers.js';
import { startDnsmasq } from '../helpers/servers.js';
import {
  dnsQuery,
  dnsQueryStream,
  dnsReply,
  listenerTarget,
  startUdpListener,
  udpClient,
  udpMember,
  udpPool,
  udpServiceConfig,
} from '../helpers/udp-backends.js';

t.setTimeout(90_000);

const NAME = 'www.example.test';
// Each member answers with its own address, so the answers tell who served them.
const ANSWER_A = '127.0.0.2';
const ANSWER_B = '127.0.0.3';

async function dnsmasq(tt: Test, answer: string): Promise<RunningServer> {
  const server = await startDnsmasq({ addresses: { 'example.test': answer } });
  tt.teardown(() => server.stop());
  return server;
}

t.test('a query through the listener is answered by dnsmasq', async (t) => {
  const a = await dnsmasq(t, ANSWER_A);
  const listener = await startUdpListener(t, udpServiceConfig({ responsesPerSession: 1 }), udpPool([udpMember(a)]));
  const c = await udpClient(listenerTarget(listener));
  t.teardown(() => c.close());
  c.send(dnsQuery(4242, NAME));
  t.match(dnsReply(await c.next()), { id: 4242, rcode: 0, answers: 1, address: ANSWER_A });
});

for (const responsesPerSession of [1, 0]) {
  t.test(`a member SIGKILLed during a steady query stream (responsesPerSession ${responsesPerSession})`, async (t) => {
    const a = await dnsmasq(t, ANSWER_A);
    const b = await dnsmasq(t, ANSWER_B);
    const ma = udpMember(a);
    const listener = await startUdpListener(t, udpServiceConfig({ responsesPerSession }), udpPool([ma, udpMember(b)]));
    let reroutes = 0;
    listener.on('reroute', ({ from }) => {
      if (from === ma) reroutes++;
    });
    const total = 2000;
    const streaming = dnsQueryStream({
      target: listenerTarget(listener),
      name: NAME,
      total,
      durationMs: 2000,
      sockets: 4,
      timeoutMs: 1000,
      midway: { after: total / 2, run: () => process.kill(a.pid, 'SIGKILL') },
    });
    const result = await streaming;
    const fromB = result.byAddress.get(ANSWER_B) ?? 0;
    t.comment(
      `dnsmasq kill, responsesPerSession ${responsesPerSession}: lost ${result.lost} of ${total} queries ` +
        `(${result.late} of them answered late); ` +
        `answered by A ${result.byAddress.get(ANSWER_A) ?? 0}, by B ${fromB}; ${reroutes} sessions rerouted`,
    );
    t.equal(result.answered + result.lost, total);
    t.ok(result.lost <= 2, `loss no worse than NGINX's 2 in 165,000 (lost ${result.lost})`);
    t.ok(fromB >= total / 2, 'the survivor answered everything after the kill');
    t.ok(reroutes > 0, 'sessions on the killed member were rerouted');
    t.equal(ma.active, 0, 'no session is left on the killed member');
  });
}

/** Every scenario, by the name it is selected with (`npm run bench -- NAME …`). */
import type { Recorder } from '../report/model.js';
import type { BenchContext } from './context.js';
import { tcpThroughput } from './throughput.js';
import { tcpConnRate } from './connrate.js';
import { tcpLatency } from './latency.js';
import { udpRate } from './udp-rate.js';
import { switchover } from './switchover.js';
import { idleConnections } from './idle.js';
import { switchyardReplay } from '../compare/switchyard.js';

export interface Scenario {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<Recorder>;
}

export const scenarios: Scenario[] = [
  tcpThroughput,
  tcpConnRate,
  tcpLatency,
  udpRate,
  switchover('switchover-kill', 'Switchover: member killed (SIGKILL)', 'tcp', 'kill'),
  switchover('switchover-hang', 'Switchover: member hung (SIGSTOP)', 'tcp', 'hang', [switchyardReplay]),
  switchover('switchover-drain', 'Switchover: member drained (admin API)', 'tcp', 'drain'),
  switchover('failback', 'Failback: member killed, then restarted', 'tcp', 'failback'),
  switchover('udp-switchover', 'Switchover: UDP member killed (SIGKILL)', 'udp', 'kill'),
  idleConnections,
];

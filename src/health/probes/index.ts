/** The probe for each health check type; `none` has none (its members start up and stay unchecked). */
import type { HealthCheckType } from '../../config/types.js';
import { probe as agent } from './agent.js';
import { probe as dns } from './dns.js';
import { probe as http } from './http.js';
import { probe as mysql } from './mysql.js';
import { probe as postgres } from './postgres.js';
import { probe as redis } from './redis.js';
import { probe as sendExpect } from './send-expect.js';
import { probe as tcp } from './tcp.js';
import type { Probe } from './types.js';
import { probe as udpSendExpect } from './udp-send-expect.js';

export const probes: Readonly<Record<Exclude<HealthCheckType, 'none'>, Probe>> = {
  tcp,
  'send-expect': sendExpect,
  http,
  redis,
  postgres,
  mysql,
  agent,
  dns,
  'udp-send-expect': udpSendExpect,
};

export function probeFor(type: HealthCheckType): Probe | undefined {
  return type === 'none' ? undefined : probes[type];
}

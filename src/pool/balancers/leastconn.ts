/**
 * Weighted least connections: the member with the fewest active connections per unit of weight.
 * Among equally loaded members the turn goes round robin, weighted (rotation.ts, as NGINX's
 * least_conn breaks ties), and every pick counts as a turn, one the load alone decided too: the
 * next tie goes to the member served least lately, as HAProxy rotates equal keys to the same end.
 * So idle members share by weight instead of the first one taking all, and a worker's picks
 * alternate whatever order its connections come and go in.
 */
import type { PolicyFactory } from '../types.js';
import { Rotation } from './rotation.js';

export const leastconn: PolicyFactory = (members, opts) => new Rotation(members, { byLoad: true, phase: opts.phase });

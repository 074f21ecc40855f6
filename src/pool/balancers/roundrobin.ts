/**
 * Round robin, weighted and smooth, as NGINX does it: the rotation of rotation.ts over every
 * member that may take the connection.
 */
import type { PolicyFactory } from '../types.js';
import { Rotation } from './rotation.js';

export const roundrobin: PolicyFactory = (members, opts) => new Rotation(members, { byLoad: false, phase: opts.phase });

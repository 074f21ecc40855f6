import type { HealthCheckConfig } from '../../config/types.js';

export interface ProbeTarget {
  host: string;
  port: number;
}

/** One check's outcome. The agent check may also set a weight percentage or an admin state. */
export interface ProbeResult {
  ok: boolean;
  /** What the probe saw, for logs and /status: "connected", "HTTP 503", "+PONG", "timeout after 500ms". */
  detail: string;
  weightPercent?: number;
  drain?: boolean;
  maint?: boolean;
}

/**
 * A probe does one protocol exchange. The checker owns timing, thresholds and
 * the timeout: it aborts `signal` when the timeout passes, and the probe must
 * then destroy its sockets and settle promptly. A probe resolves; it never rejects.
 */
export type Probe = (target: ProbeTarget, check: HealthCheckConfig, signal: AbortSignal) => Promise<ProbeResult>;

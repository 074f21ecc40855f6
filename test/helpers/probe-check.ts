/** Running one probe in a test: a health-check config from the defaults, and a bounded run. */
import { defaultHealthCheck } from '../../src/config/health-check.js';
import type { HealthCheckConfig } from '../../src/config/types.js';
import type { Probe, ProbeResult, ProbeTarget } from '../../src/health/probes/types.js';

/** A resolved health check of `type`, defaults applied, with `overrides` on top. */
export function checkConfig(type: HealthCheckConfig['type'], overrides: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  return { ...defaultHealthCheck(type), ...overrides };
}

export interface ProbeRun extends ProbeResult {
  /** Milliseconds until the probe settled. */
  elapsed: number;
}

/** Runs `probe` with a signal that aborts after `timeoutMs`, as the checker does, with the checker's abort reason. */
export async function runProbe(probe: Probe, target: ProbeTarget, check: HealthCheckConfig, timeoutMs = 3000): Promise<ProbeRun> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`timeout after ${timeoutMs}ms`)), timeoutMs);
  const started = performance.now();
  try {
    const result = await probe(target, check, controller.signal);
    return { ...result, elapsed: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

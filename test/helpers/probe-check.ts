/** Running one probe in a test: a health-check config from the defaults, and a bounded run. */
import { defaults } from '../../src/config/defaults.js';
import type { HealthCheckConfig } from '../../src/config/types.js';
import type { Probe, ProbeResult, ProbeTarget } from '../../src/health/probes/types.js';

/** A resolved health check of `type`, defaults applied, with `overrides` on top. */
export function checkConfig(type: HealthCheckConfig['type'], overrides: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  const d = defaults.healthCheck;
  return {
    type,
    interval: d.interval,
    fastInterval: d.fastInterval,
    downInterval: d.downInterval,
    timeout: d.timeout,
    rise: d.rise,
    fall: d.fall,
    jitter: d.jitter,
    steps: [],
    path: d.path,
    expectStatus: [...d.expectStatus],
    query: d.query,
    queryType: d.queryType,
    ...overrides,
  };
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

/**
 * Durations ("250ms", "2s", "1m30s") and byte sizes ("64KiB") as the config writes them.
 *
 * A bare number is refused for durations, except 0: "timeout: 2" could mean
 * seconds or milliseconds, and HAProxy and NGINX disagree, so the unit is
 * always written. Sizes take bare numbers as bytes, which is unambiguous.
 */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** The longest wait a Node timer can hold (setTimeout fires at once past 2^31-1 ms). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const durationTerm = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * Milliseconds for a duration text ("250ms", "2s", "1h30m", "1.5s", "0"), or undefined when it is not one.
 * Terms go from the largest unit to the smallest, each unit at most once, as Go's time.ParseDuration prints them.
 */
export function parseDuration(input: unknown): number | undefined {
  if (input === 0) return 0;
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  if (text === '0') return 0;
  if (text === '') return undefined;
  let ms = 0;
  let lastScale = Infinity;
  durationTerm.lastIndex = 0;
  while (durationTerm.lastIndex < text.length) {
    const m = durationTerm.exec(text);
    if (!m) return undefined;
    const scale = DURATION_UNITS[m[2]!]!;
    if (scale >= lastScale) return undefined;
    lastScale = scale;
    ms += Number(m[1]) * scale;
  }
  // Durations are whole milliseconds; "0.5ms" is finer than any timer here keeps.
  return Number.isInteger(ms) ? ms : undefined;
}

/** Bytes for a size text ("64KiB", "1MiB", "512B") or a bare integer of bytes, or undefined when it is not one. */
export function parseSize(input: unknown): number | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  if (typeof input !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(input.trim());
  if (!m) return undefined;
  const unit = m[2] === '' ? 1 : SIZE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Number(m[1]) * unit;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The shortest text for a duration in ms ("1h30m", "250ms", "0"), for messages and dumps. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = ms;
  let out = '';
  for (const [unit, scale] of Object.entries(DURATION_UNITS).reverse()) {
    if (rest >= scale) {
      const n = Math.floor(rest / scale);
      out += `${n}${unit}`;
      rest -= n * scale;
    }
  }
  return out;
}

/** The shortest text for a size in bytes ("64KiB", "100B"). */
export function formatSize(bytes: number): string {
  for (const [unit, scale] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`;
  }
  return `${bytes}B`;
}

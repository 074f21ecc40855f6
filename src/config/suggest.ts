/** "Did you mean" for unknown keys: the closest known key by edit distance, ignoring case, `_` and `-`. */

export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = cur;
  }
  return prev[b.length]!;
}

const fold = (s: string) => s.toLowerCase().replace(/[-_]/g, '');

/** The known key nearest to `key`, or undefined when none is close enough to be a likely typo. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  const k = fold(key);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = levenshtein(k, fold(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // Allow about one slip per three letters: `helthCheck` → healthCheck, but not `foo` → `log`.
  const allowed = Math.max(1, Math.floor(k.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

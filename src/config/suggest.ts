/** "Did you mean" for unknown keys: the closest known key by edit distance, ignoring case, `_` and `-`. */

/** Edit distance where swapping two neighbouring letters (`sned` → `send`) counts as one edit. */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      cur[j] = d;
    }
    before = prev;
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
  if (bestDistance <= allowed) return best;
  // Failing that, one key sharing a long start: `consecutiveErrors` → consecutiveFailures.
  const minPrefix = Math.max(5, Math.ceil(k.length / 2));
  const sharing = known.filter((candidate) => commonPrefix(k, fold(candidate)) >= minPrefix);
  return sharing.length === 1 ? sharing[0] : undefined;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

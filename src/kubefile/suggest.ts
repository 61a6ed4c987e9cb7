/** Levenshtein distance: the fewest single-character inserts, deletes or substitutions from a to b. */
export function editDistance(a: string, b: string): number {
  // One row of the classic dynamic-programming table is enough: row[j] = distance(a[0..i), b[0..j)).
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      next.push(Math.min(substitute, row[j]! + 1, next[j - 1]! + 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/**
 * The candidate nearest to `word` (the first one on a tie), if it is at most `maxDistance` edits
 * away; for "did you mean ...?" hints.
 */
export function closest(word: string, candidates: readonly string[], maxDistance: number): string | undefined {
  let best: string | undefined;
  let bestDistance = maxDistance + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** "Did you mean …": the known names closest to a misspelt one. */

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * Up to `limit` names from `known` that look like `wanted`: within an edit distance of a third of its
 * length (at least 2), or containing it or contained in it; closest first.
 */
export function closeNames(wanted: string, known: readonly string[], limit = 3): string[] {
  const target = wanted.toLowerCase();
  const threshold = Math.max(2, Math.floor(target.length / 3));
  return known
    .map((name) => {
      const distance = editDistance(target, name.toLowerCase());
      const related = target.length >= 3 && (name.includes(target) || target.includes(name));
      return { name, distance, close: distance <= threshold || related };
    })
    .filter((candidate) => candidate.close)
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name))
    .slice(0, limit)
    .map((candidate) => candidate.name);
}

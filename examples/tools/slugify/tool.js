// A pure tool: JSON text in, JSON text out, nothing imported (no network, storage or environment).
// The guest's JavaScript engine (StarlingMonkey) has no Unicode normalization (`normalize` traps), so
// accents are folded with a table.
const FOLD = {
  a: 'àáâãäåā',
  c: 'çćč',
  e: 'èéêëēėę',
  i: 'ìíîïī',
  n: 'ñń',
  o: 'òóôõöøō',
  s: 'śš',
  u: 'ùúûüū',
  y: 'ýÿ',
  z: 'źżž',
};
const PLAIN = new Map(Object.entries(FOLD).flatMap(([plain, marked]) => [...marked].map((c) => [c, plain])));

export function run(input) {
  const { text } = JSON.parse(input);
  const folded = [...text.toLowerCase()].map((c) => PLAIN.get(c) ?? c).join('');
  const slug = folded.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return JSON.stringify({ slug });
}

// A pure tool: JSON text in, JSON text out, nothing imported (no network, storage or environment).
export function run(input) {
  const { text } = JSON.parse(input);
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return JSON.stringify({ slug });
}

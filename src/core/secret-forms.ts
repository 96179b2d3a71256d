/**
 * The forms a secret takes in text: as it is, JSON-escaped, URL-encoded, hex, base64 and base64url.
 * Pure: a secret in, strings to look for out. Used by the `Redactor` to redact and by the factory to
 * refuse committing a file that holds one.
 */

/**
 * The part of the base64 encoding of `bytes` that does not depend on what surrounds them, when they
 * start `offset` bytes (0, 1 or 2) into a 3-byte group of a longer text. A base64 character carries 6
 * bits: the ones that carry bits of the neighbours differ from text to text and are left out.
 */
function base64Core(bytes: Buffer, offset: number): string {
  const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
  const firstBit = offset * 8;
  const endBit = firstBit + bytes.length * 8;
  return encoded.slice(Math.ceil(firstBit / 6), Math.floor(endBit / 6));
}

function hexForms(bytes: Buffer): string[] {
  const hex = bytes.toString('hex');
  return [hex, hex.toUpperCase()];
}

/**
 * Every form of `secret` worth looking for, the plain one first, without duplicates. Base64 and
 * base64url appear once per alignment (a secret inside a longer encoded text starts at any of three
 * byte offsets of a 3-byte group); each is the stable inner part, which also matches the secret
 * encoded alone.
 */
export function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), encodeURI(secret)];
  forms.push(...hexForms(bytes));
  for (const offset of [0, 1, 2]) {
    const core = base64Core(bytes, offset);
    forms.push(core, core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return [...new Set(forms)];
}

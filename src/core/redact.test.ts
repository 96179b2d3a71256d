import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createRedactor, pinoRedaction, REDACTED, redactingDestination } from './redact.js';

const TOKEN = 'cvy_tok_0123456789abcdef';
const KEY = 'sk-ant-SECRETSECRET';

describe('Redactor.redact', () => {
  it('replaces every occurrence of a secret embedded in text', () => {
    const r = createRedactor([TOKEN]);
    expect(r.redact(`Authorization: Bearer ${TOKEN}\nagain:${TOKEN}.`)).toBe(
      `Authorization: Bearer ${REDACTED}\nagain:${REDACTED}.`,
    );
  });

  it('ignores secrets shorter than 8 characters, empty and undefined values', () => {
    const r = createRedactor(['true', '', undefined, null, '1234567']);
    expect(r.isEmpty).toBe(true);
    expect(r.redact('true 1234567')).toBe('true 1234567');
  });

  it('prefers the longest secret when one contains another', () => {
    const r = createRedactor(['abcdefgh', 'abcdefgh-and-more']);
    expect(r.redact('x abcdefgh-and-more y abcdefgh z')).toBe(`x ${REDACTED} y ${REDACTED} z`);
  });

  it('leaves no fragment when two secrets overlap', () => {
    const r = createRedactor(['AAAABBBBCCCC', 'BBBBCCCCDDDD']);
    const out = r.redact('<AAAABBBBCCCCDDDD>');
    expect(out).toBe(`<${REDACTED}>`);
    expect(out).not.toMatch(/DDDD|AAAA/);
  });

  it('treats regular-expression characters in secrets literally', () => {
    const r = createRedactor(['a.b*c+d?(e)']);
    expect(r.redact('a.b*c+d?(e) aXbbbcd')).toBe(`${REDACTED} aXbbbcd`);
  });

  it('redacts 1 MB of text with 20 secrets quickly', () => {
    const secrets = Array.from({ length: 20 }, (_, i) => `secret-value-${i}-${'x'.repeat(i)}`);
    const r = createRedactor(secrets);
    const chunk = 'lorem ipsum dolor sit amet, consectetur adipiscing elit; ';
    let text = '';
    while (text.length < 1_000_000) text += chunk + (secrets[text.length % 20] ?? '') + '\n';
    const started = performance.now();
    const out = r.redact(text);
    const ms = performance.now() - started;
    for (const s of secrets) expect(out.includes(s)).toBe(false);
    // Six forms per secret (plain, URL, hex, base64 at three alignments…): 16-38 ms measured here.
    expect(ms).toBeLessThan(100);
  });
});

describe('Redactor: encoded secrets', () => {
  const SECRET = 'sk-live/Zq9+x?&=ü "quoted"';
  const r = createRedactor([SECRET]);
  /** What is left of `encoded` once redacted, decoded back: the secret must not be in it. */
  const decodedAfter = (encoded: string, decode: (s: string) => string): string =>
    decode(r.redact(encoded).split(REDACTED).join(''));

  it.each([
    ['base64', 'base64'],
    ['base64url', 'base64url'],
  ] as const)('redacts the secret in %s, alone and inside longer text at every alignment', (_, encoding) => {
    for (const prefix of ['', 'a', 'ab', 'abc', 'abcd', 'abcde']) {
      for (const suffix of ['', 'x', 'xy', 'xyz']) {
        const encoded = Buffer.from(`${prefix}${SECRET}${suffix}`).toString(encoding);
        expect(r.contains(encoded), `${prefix}|${suffix}`).toBe(true);
        expect(r.redact(encoded)).toContain(REDACTED);
        expect(decodedAfter(encoded, (s) => Buffer.from(s, encoding).toString())).not.toContain(SECRET);
      }
    }
  });

  it('redacts the URL-encoded, hex (both cases) and JSON-escaped forms', () => {
    for (const encoded of [
      `?key=${encodeURIComponent(SECRET)}&x=1`,
      encodeURI(`https://h/${SECRET}`),
      `0x${Buffer.from(SECRET).toString('hex')}`,
      Buffer.from(SECRET).toString('hex').toUpperCase(),
      JSON.stringify({ key: SECRET }),
    ]) {
      expect(r.contains(encoded), encoded).toBe(true);
      expect(r.redact(encoded), encoded).toContain(REDACTED);
    }
    expect(decodeURIComponent(r.redact(`k=${encodeURIComponent(SECRET)}`))).toBe(`k=${REDACTED}`);
  });

  it('finds nothing in text that holds no form of a secret', () => {
    expect(r.contains(`almost: ${SECRET.slice(0, -1)} ${Buffer.from('other').toString('base64')}`)).toBe(false);
  });
});

describe('Redactor.redactDeep', () => {
  it('redacts strings in nested JSON and keeps keys and other values', () => {
    const r = createRedactor([TOKEN, KEY]);
    const input = {
      [TOKEN]: 'key stays',
      n: 1,
      ok: true,
      none: null,
      list: [`a ${KEY}`, { deep: [TOKEN] }],
    };
    const out = r.redactDeep(input);
    expect(out).toEqual({
      [TOKEN]: 'key stays',
      n: 1,
      ok: true,
      none: null,
      list: [`a ${REDACTED}`, { deep: [REDACTED] }],
    });
    expect(input.list[0]).toBe(`a ${KEY}`); // a copy, the input is untouched
  });

  it('copies errors with message and stack redacted, keeping the prototype', () => {
    const r = createRedactor([KEY]);
    const out = r.redactDeep({ err: new TypeError(`bad key ${KEY}`) });
    expect(out.err).toBeInstanceOf(TypeError);
    expect(out.err.message).toBe(`bad key ${REDACTED}`);
    expect(out.err.stack).not.toContain(KEY);
  });

  it('cuts cycles instead of recursing forever', () => {
    const r = createRedactor([KEY]);
    const a: Record<string, unknown> = { s: KEY };
    a.self = a;
    expect(r.redactDeep(a)).toEqual({ s: REDACTED, self: '[circular]' });
  });
});

describe('pinoRedaction and redactingDestination', () => {
  it('hooks alone redact log calls structurally, before serialization', () => {
    const r = createRedactor([KEY]);
    const lines: string[] = [];
    const logger = pino({ level: 'info', ...pinoRedaction(r) }, { write: (l: string) => lines.push(l) });
    logger.info({ nested: [{ key: KEY }] }, `msg ${KEY}`);
    expect(JSON.parse(lines[0]!)).toMatchObject({ nested: [{ key: REDACTED }], msg: `msg ${REDACTED}` });
  });

  it('the destination catches the JSON-escaped form of a secret', () => {
    const quoted = 'pa"ss\\word-123';
    const r = createRedactor([quoted]);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, redactingDestination(r, { write: (l: string) => lines.push(l) }));
    logger.child({ password: quoted }).info('x');
    expect(lines[0]).toContain(REDACTED);
    expect(JSON.parse(lines[0]!).password).toBe(REDACTED);
  });

  it('keeps secrets out of messages, objects, format arguments, errors and child bindings', () => {
    const r = createRedactor([TOKEN, KEY]);
    let written = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        written += chunk.toString();
        done();
      },
    });
    const logger = pino({ level: 'info', ...pinoRedaction(r) }, redactingDestination(r, sink));
    logger.info(`token ${TOKEN}`);
    logger.info({ env: { API_KEY: KEY } }, 'with %s', TOKEN);
    logger.error({ err: new Error(`failed with ${KEY}`) }, 'boom');
    logger.child({ token: TOKEN }).info('child');
    expect(written.split('\n').filter(Boolean)).toHaveLength(4);
    expect(written).not.toContain(TOKEN);
    expect(written).not.toContain(KEY);
    expect(written).toContain(REDACTED);
    expect(written).toContain('"type":"Error"');
  });
});

describe('Redactor.add and forget', () => {
  it('redacts a secret added while it runs, and stops once it is forgotten as often as it was added', () => {
    const redactor = createRedactor(['factory-token-secret']);
    const credential = 'cvy_agent-credential-0123456789';
    expect(redactor.redact(`token ${credential}`)).toBe(`token ${credential}`);
    redactor.add(credential);
    redactor.add(credential);
    expect(redactor.redact(`token ${credential}`)).toBe(`token ${REDACTED}`);
    redactor.forget(credential);
    expect(redactor.redact(`token ${credential}`)).toBe(`token ${REDACTED}`);
    redactor.forget(credential);
    expect(redactor.redact(`token ${credential}`)).toBe(`token ${credential}`);
    expect(redactor.redact('factory-token-secret')).toBe(REDACTED);
  });
});

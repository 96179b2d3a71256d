/**
 * Bad input over real HTTP on both backends, generated with fast-check: arbitrary bodies, content
 * types, query strings, path params and headers against every guarded route Fastify registered. The
 * coordinator must never answer 5xx or hang, and every 4xx must carry `{error: {code, message,
 * details}}`. Targeted examples pin the statuses a client relies on (413, 400, 422).
 */
import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BACKENDS } from './helpers/databases.js';
import { type Endpoint, endpoints } from './helpers/routes.js';

const LIMIT = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;
const NUM_RUNS = 50;
const JOB_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const SSE_URL = '/api/events';

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/**
 * One request with node:http, which (unlike fetch) sends bodies on GET and paths exactly as given.
 * An event stream is answered by its status line alone; the connection is then dropped.
 */
function send(base: URL, agent: Agent, sent: Sent, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: sent.method,
        path: sent.path,
        // node:http frames a GET body without a length, which the server reads as the next request.
        headers:
          sent.body === undefined
            ? sent.headers
            : { ...sent.headers, 'content-length': String(Buffer.byteLength(sent.body)) },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const contentType = res.headers['content-type'] ?? '';
        if (contentType.startsWith('text/event-stream')) {
          resolve({ status: res.statusCode ?? 0, contentType, text: '' });
          req.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, contentType, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', (error) => {
      reject(new Error(`${sent.method} ${sent.path.slice(0, 200)} failed: ${error.message}`, { cause: error }));
    });
    req.end(sent.body);
  });
}

/** Every error answer: JSON `{error: {code, message, details}}`; a 400 names a path and a message per detail. */
function expectErrorShape(answer: Answer, what: string): void {
  expect(answer.contentType, what).toMatch(/^application\/json/);
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    throw new Error(`${what}: answered ${answer.status} with a body that is not JSON: ${answer.text.slice(0, 200)}`);
  }
  expect(body, what).toEqual({
    error: expect.objectContaining({
      code: expect.any(String) as string,
      message: expect.any(String) as string,
      details: expect.any(Array) as unknown[],
    }) as unknown,
  });
  if (answer.status === 400) {
    for (const detail of (body as { error: { details: unknown[] } }).error.details) {
      expect(detail, what).toEqual(
        expect.objectContaining({ path: expect.any(String) as string, message: expect.any(String) as string }),
      );
    }
  }
}

/** Percent-encodes every byte but the unreserved ones; lone surrogates become U+FFFD on the way. */
function encode(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((byte) => {
      const char = String.fromCharCode(byte);
      return /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

// ---- arbitraries -------------------------------------------------------------------------------

const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }));
const validJobId = fc.stringMatching(JOB_ID);

/** A path param, already in its URL form: encoded arbitrary values, valid ids, or raw broken escapes. */
const pathParam = fc.oneof(
  validJobId,
  fc.constantFrom('factory-1', 'f1', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '01arz3ndektsv4rrffq69g5fav'),
  anyString.map(encode),
  fc.string({ minLength: 101, maxLength: 400 }).map(encode),
  fc.constantFrom('%', '%zz', '%E0%A4%A', '%C0%AF', '%00', '..', '.', '%2F', 'a%2Fb', '%20', '~'),
);

/** Keys the routes know, so generated objects reach deep into the schemas, plus arbitrary ones. */
const FIELDS = [
  'factoryId',
  'capabilities',
  'health',
  'load',
  'slots',
  'version',
  'waitMs',
  'stage',
  'leaseEpoch',
  'checkpoint',
  'result',
  'error',
  'title',
  'body',
  'source',
  'repo',
  'base',
  'target',
  'priority',
  'maxAttempts',
  'agent',
  'skills',
  'scope',
  'constraints',
  'verify',
  'ship',
  'idempotencyKey',
  'metadata',
  'reason',
  'answer',
  'drain',
  '__proto__',
  'constructor',
];

/** Strings a schema passes but a database may not store: NUL, other controls, lone surrogates. */
const awkwardString = fc.oneof(
  fc.constantFrom('a\u0000b', '\u0000', 'tab\there', '\u001b[31m', '\ud800', '\uffff', 'ok\r\nX-Injected: 1'),
  fc.string({ unit: 'binary', minLength: 1 }),
  fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${a}\u0000${b}`),
);

/** Values that are nearly right as often as they are wrong. */
const plausible = fc.oneof(
  fc.constantFrom('f1', 'ok', 'degraded', 'building', 'assigned', 'queued', 'shipped', 'claude-code', 'Fix it', ''),
  awkwardString,
  fc.constantFrom(0, 1, -1, 100, 2 ** 31, 1.5, Number.MAX_SAFE_INTEGER, true, false, null),
  fc.array(fc.constantFrom('git', 'node', '', 'x'.repeat(101)), { maxLength: 3 }),
  fc.integer({ min: 0, max: 100 }),
  fc.jsonValue({ maxDepth: 3 }),
);

const shapedObject = fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string(), awkwardString), plausible, {
  maxKeys: 6,
});

/** A nearly valid object with one field nested very deep (stack depth is where serialisers break). */
const deepObject = fc
  .tuple(
    fc.constantFrom('metadata', 'result', 'checkpoint', 'body', 'capabilities'),
    fc.integer({ min: 50, max: 20_000 }),
  )
  .map(([field, depth]) => `{"body":"x","factoryId":"f1","${field}":${'['.repeat(depth)}${']'.repeat(depth)}}`);

/** Task files: Markdown with front matter and YAML, some hostile (alias bombs, escapes that make NULs). */
const taskText = fc.oneof(
  fc.constantFrom(
    '# Fix it\n\nThe parser drops the last line.',
    '---\ntitle: x\npriority: high\n---\nbody',
    '---\n: : :\n---\nbody',
    'goal: Fix it\nverify: [npm test]',
    'body: "x\\0y"',
    'name: cap\ndescription: "d\\0"',
    `a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nbody: x`,
    `body: x\nmetadata: ${'['.repeat(5000)}${']'.repeat(5000)}`,
    '*unknown',
    '!!binary AAAA',
  ),
  fc.string(),
);

/** JSON text: arbitrary values, objects shaped like the routes' bodies, and broken or truncated JSON. */
const jsonText = fc.oneof(
  { weight: 3, arbitrary: shapedObject.map((v) => JSON.stringify(v)) },
  {
    weight: 2,
    // JSON.stringify(undefined) is undefined whatever its type says: send the text "undefined" then.
    arbitrary: fc.anything().map((v) => (JSON.stringify(v) as string | undefined) ?? 'undefined'),
  },
  { weight: 2, arbitrary: fc.object().map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.json() },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.json({ depthSize: 'small' }), fc.nat())
      .map(([text, cut]) => text.slice(0, text.length > 1 ? cut % (text.length - 1) : 0) || '{'),
  },
  { weight: 1, arbitrary: fc.constantFrom('{', '{"a":', '[1,', '{"body": "x",}', "{'a': 1}", 'NaN', '\u0000', '{}}') },
  { weight: 1, arbitrary: anyString },
  { weight: 1, arbitrary: deepObject },
  { weight: 1, arbitrary: taskText },
);

/** Bodies near the 1 MiB limit, on either side of it. */
const hugeText = fc
  .integer({ min: LIMIT - 4096, max: LIMIT + 4096 })
  .chain((size) =>
    fc.constantFrom(
      JSON.stringify({ title: 'huge', body: 'a'.repeat(size) }),
      'x'.repeat(size),
      `"${'b'.repeat(size)}"`,
    ),
  );

const contentTypeOther = fc.constantFrom(
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'text/plain',
  'text/markdown',
  'text/yaml',
  'application/xml',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'garbage',
  ';',
  undefined,
);
const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  { weight: 1, arbitrary: contentTypeOther },
);

/** A valid body per route, for mutating one field at a time; routes not listed start from `{}`. */
const VALID_BODIES: Readonly<Record<string, Record<string, unknown>>> = {
  'POST /api/fleet/factories/heartbeat': { factoryId: 'f1', capabilities: ['git'], health: 'ok', load: 0 },
  'POST /api/fleet/claim': { factoryId: 'f1', capabilities: [], waitMs: 0 },
  'PATCH /api/fleet/jobs/:id': { factoryId: 'f1', stage: 'building', leaseEpoch: 1 },
  'POST /api/fleet/jobs/:id/lease/renew': { factoryId: 'f1', leaseEpoch: 1 },
  'POST /api/fleet/jobs/:id/lease/release': { factoryId: 'f1', leaseEpoch: 1 },
  'POST /api/fleet/jobs/:id/subtasks': {
    factoryId: 'f1',
    leaseEpoch: 1,
    subtasks: [{ title: 'Part', body: 'Do part.', after: [] }],
  },
  'POST /api/jobs': { title: 'Fix it', body: 'The parser drops the last line.', repo: 'https://git.example/app.git' },
  'POST /api/jobs/:id/cancel': { reason: 'not needed' },
  'POST /api/jobs/:id/unblock': { answer: 'yes' },
  'POST /api/factories/:id/drain': { drain: true },
};

/** One field of a valid body set to something odd (or a field added): reaches past validation into the store. */
function mutatedBody(route: Endpoint): fc.Arbitrary<string> {
  const valid = VALID_BODIES[route.name] ?? {};
  const own = Object.keys(valid);
  const key =
    own.length === 0
      ? fc.constantFrom(...FIELDS)
      : fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(...own) },
          { weight: 1, arbitrary: fc.constantFrom(...FIELDS) },
        );
  const value = fc.oneof(
    { weight: 2, arbitrary: awkwardString },
    { weight: 1, arbitrary: plausible },
    { weight: 1, arbitrary: fc.dictionary(fc.string(), awkwardString, { maxKeys: 2 }) },
    { weight: 1, arbitrary: fc.array(awkwardString, { minLength: 1, maxLength: 3 }) },
  );
  return fc.tuple(key, value).map(([k, v]) => JSON.stringify({ ...valid, [k]: v }));
}

function bodyFor(route: Endpoint): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 6, arbitrary: mutatedBody(route) },
    { weight: 8, arbitrary: jsonText },
    { weight: 1, arbitrary: hugeText },
  );
}

const QUERY_KEYS = ['after', 'stage', 'q', 'cursor', 'limit', 'waitMs', 'product', 'x'];
const queryValue = fc.oneof(
  anyString,
  awkwardString,
  fc.integer().map(String),
  fc.constantFrom('', '0', '-1', '1.5', '1e3', 'NaN', '201', '99999999999999999999', 'queued,bogus', 'queued,,shipped'),
  validJobId,
);

/** A query string (with its `?`) or nothing. */
const queryString = fc.oneof(
  { weight: 2, arbitrary: fc.constant('') },
  {
    weight: 5,
    arbitrary: fc
      .array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), anyString), queryValue), { maxLength: 4 })
      .map((pairs) => `?${new URLSearchParams(pairs).toString()}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: fc.constantFrom(...'%&=?+;[]{}ab01_-.~/'.split('')), maxLength: 30 })
      .map((s) => `?${s}`),
  },
);

/** Printable ASCII only: anything else node:http refuses to send. */
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) });

/** Extra headers, rarely: a wrong product usually answers 400 before the body is looked at. */
const extraHeaders = fc.oneof(
  { weight: 8, arbitrary: fc.constant({}) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        'x-product-id': fc.oneof(fc.constantFrom('default', 'alpha', 'beta', '-x', 'a'.repeat(65)), headerValue),
        'idempotency-key': fc.oneof(headerValue, fc.constant('k'.repeat(201))),
        accept: fc.constantFrom('application/json', 'text/html', '*/*', 'garbage'),
      },
      { requiredKeys: [] },
    ),
  },
);

interface Parts {
  params: string[];
  query: string;
  body: string | undefined;
  contentType: string | undefined;
  extra: Record<string, string>;
}

/**
 * Requests for one route. Most get one thing wrong and the rest right (body, path or query), so the
 * odd value reaches the handler and the store; the rest get everything random at once.
 */
function requestFor(route: Endpoint, token: string): fc.Arbitrary<Sent> {
  const count = (route.url.match(/:\w+/g) ?? []).length;
  const valid = VALID_BODIES[route.name];
  const good = {
    params: fc.constant(
      Array.from({ length: count }, () =>
        route.url.startsWith('/api/factories/') ? 'f1' : '01ARZ3NDEKTSV4RRFFQ69G5FAV',
      ),
    ),
    query: fc.constant(''),
    body: fc.constant(valid === undefined ? undefined : JSON.stringify(valid)),
    contentType: fc.constant('application/json'),
    extra: fc.constant({}),
  };
  const wrong = {
    params: fc.array(pathParam, { minLength: count, maxLength: count }),
    query: queryString,
    body: bodyFor(route),
    contentType,
    extra: extraHeaders,
  };
  const parts: fc.Arbitrary<Parts> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ ...good, body: mutatedBody(route) }) },
    { weight: 1, arbitrary: fc.record({ ...good, params: wrong.params }) },
    { weight: 1, arbitrary: fc.record({ ...good, query: wrong.query }) },
    { weight: 1, arbitrary: fc.record({ ...good, contentType: wrong.contentType }) },
    { weight: 3, arbitrary: fc.record(wrong) },
  );
  return parts
    .map(({ params, query, body, contentType: type, extra }) => {
      let i = 0;
      const path = route.url.replace(/:\w+/g, () => params[i++] ?? '');
      const headers: Record<string, string> = { ...extra, authorization: `Bearer ${token}` };
      if (type !== undefined && body !== undefined) headers['content-type'] = type;
      return { method: route.method, path: `${path}${query}`, headers, ...(body === undefined ? {} : { body }) };
    })
    .filter((sent) => route.url !== '/api/fleet/claim' || !longPoll(sent.body));
}

/** A claim body asking to wait longer than 100 ms: a valid one would hold the request open. */
function longPoll(text: string | undefined): boolean {
  if (text === undefined) return false;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && typeof (value as { waitMs?: unknown }).waitMs === 'number'
      ? (value as { waitMs: number }).waitMs > 100
      : false;
  } catch {
    return false;
  }
}

/** What the events route accepts as a cursor: `z.coerce.number().int().min(0).max(MAX_SAFE_INTEGER)`. */
function isCursor(text: string): boolean {
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 && n <= Number.MAX_SAFE_INTEGER;
}

const cursorText = fc.oneof(
  fc.nat().map(String),
  fc.constantFrom('', '0', '-1', '1.5', '1e3', '0x10', 'Infinity', '9007199254740992', ' 7 ', 'abc'),
  headerValue,
);

// ---- tests -------------------------------------------------------------------------------------

describe.each(BACKENDS)('bad input over HTTP on %s', (backend) => {
  let tc: TestCoordinator;
  let base: URL;
  let agent: Agent;
  let guarded: Endpoint[];

  beforeAll(async () => {
    tc = await startTestCoordinator(backend);
    base = new URL(tc.url);
    // A fresh connection per request: the server may close a kept-alive one after answering before
    // reading the body (413), and a request that lands on it as it closes would fail for no fault of the API.
    agent = new Agent({ keepAlive: false });
    guarded = endpoints(tc.coordinator.routes).filter((r) => r.access !== 'public');
  });
  afterAll(async () => {
    agent.destroy();
    await tc.close();
  });

  it('never answers 5xx or hangs, and every error has the error shape', async () => {
    expect(guarded.length).toBeGreaterThanOrEqual(19);
    const tally = new Map<string, { total: number; rejected: number }>();
    for (const route of guarded.filter((r) => r.url !== SSE_URL)) {
      const counts = { total: 0, rejected: 0 };
      tally.set(route.name, counts);
      await fc.assert(
        fc.asyncProperty(requestFor(route, tc.tokens.admin), async (sent) => {
          const answer = await send(base, agent, sent);
          const what = `${sent.method} ${sent.path.slice(0, 200)} (${sent.headers['content-type'] ?? 'no type'}, ${String(sent.body?.length ?? 0)} bytes): ${answer.status} ${answer.text.slice(0, 300)}`;
          counts.total++;
          expect(answer.status, what).toBeGreaterThanOrEqual(200);
          expect(answer.status, what).toBeLessThan(500);
          if (answer.status >= 400) {
            counts.rejected++;
            expectErrorShape(answer, what);
          }
        }),
        { numRuns: NUM_RUNS },
      );
    }
    for (const [name, counts] of tally) expect(counts.rejected, `${name} rejected nothing`).toBeGreaterThan(0);
    const all = [...tally.values()].reduce((a, c) => ({ total: a.total + c.total, rejected: a.rejected + c.rejected }));
    expect(all.rejected / all.total).toBeGreaterThan(0.6);
  });

  it('answers the event stream 400 for a bad cursor or unknown query field, and opens it otherwise', async () => {
    let opened = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.option(cursorText, { nil: undefined }),
        fc.option(fc.stringMatching(/^[a-z]{1,8}$/), { nil: undefined }),
        fc.option(cursorText, { nil: undefined }),
        async (after, unknownKey, lastEventId) => {
          const query = new URLSearchParams();
          if (after !== undefined) query.append('after', after);
          if (unknownKey !== undefined && unknownKey !== 'after') query.append(unknownKey, '1');
          const headers: Record<string, string> = { authorization: `Bearer ${tc.tokens.admin}` };
          if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
          const path = `${SSE_URL}${query.size > 0 ? `?${query.toString()}` : ''}`;
          const answer = await send(base, agent, { method: 'GET', path, headers });
          // The HTTP parser trims header whitespace; Number() trims too, so the model need not.
          const valid =
            (after === undefined || isCursor(after)) &&
            (unknownKey === undefined || unknownKey === 'after') &&
            (lastEventId === undefined || isCursor(lastEventId));
          const what = `GET ${path} Last-Event-ID ${JSON.stringify(lastEventId)}: ${answer.status} ${answer.text}`;
          if (valid) {
            expect(answer.status, what).toBe(200);
            expect(answer.contentType, what).toMatch(/^text\/event-stream/);
            opened++;
          } else {
            expect(answer.status, what).toBe(400);
            expectErrorShape(answer, what);
            refused++;
          }
        },
      ),
      // The examples make sure both branches run whatever the seed draws.
      {
        numRuns: 60,
        examples: [
          [undefined, undefined, undefined],
          ['abc', undefined, undefined],
        ],
      },
    );
    expect(opened).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('still answers /healthz and /readyz after the onslaught', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const answer = await send(base, agent, { method: 'GET', path, headers: {} });
      expect(answer.status, path).toBe(200);
    }
  });

  it('answers 413 with the error shape to a body over the limit', async () => {
    const text = JSON.stringify({ title: 'too big', body: 'a'.repeat(LIMIT) });
    const answer = await send(base, agent, {
      method: 'POST',
      path: '/api/jobs',
      headers: { authorization: `Bearer ${tc.tokens.admin}`, 'content-type': 'application/json' },
      body: text,
    });
    expect(answer.status).toBe(413);
    expectErrorShape(answer, 'over the limit');
  });

  it('answers 400 naming an unknown field of a submission', async () => {
    const answer = await tc.call('POST', '/api/jobs', { json: { body: 'Do it.', colour: 'red' } });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_input');
    expect(answer.body.error.details).toEqual([
      { path: 'body', message: expect.stringContaining('"colour"') as string },
    ]);
  });

  it('answers 400 naming the field to a NUL character, which PostgreSQL cannot store', async () => {
    const cases = [
      { method: 'POST', path: '/api/jobs', json: { body: 'a\u0000b' }, field: 'body.body' },
      {
        method: 'POST',
        path: '/api/jobs',
        json: { body: 'x', metadata: { note: ['\u0000'] } },
        field: 'body.metadata.note.0',
      },
      { method: 'GET', path: '/api/jobs?q=a%00b', field: 'query.q' },
    ];
    for (const c of cases) {
      const answer = await tc.call(c.method, c.path, c.json === undefined ? {} : { json: c.json });
      expect(answer.status, c.path).toBe(400);
      expect(answer.body.error.details, c.path).toEqual([
        { path: c.field, message: expect.stringContaining('NUL') as string },
      ]);
    }
    const yaml = await tc.call('POST', '/api/jobs', {
      body: 'title: t\nbody: "a\\0b"',
      headers: { 'content-type': 'text/yaml' },
    });
    expect(yaml.status).toBe(400);
    expect(yaml.body.error.details).toEqual([{ path: 'body.body', message: expect.stringContaining('NUL') as string }]);
  });

  it('answers 400 naming the field to a lone surrogate, which PostgreSQL JSON cannot store', async () => {
    const claim = await tc.call('POST', '/api/fleet/claim', {
      body: '{"factoryId":"f1","capabilities":["\\ud800"],"waitMs":0}',
      headers: { 'content-type': 'application/json' },
      token: tc.tokens.factory,
    });
    expect(claim.status).toBe(400);
    expect(claim.body.error.details).toEqual([
      { path: 'body.capabilities.0', message: expect.stringContaining('lone surrogate') as string },
    ]);
    const key = await tc.call('POST', '/api/jobs', {
      body: '{"body":"x","metadata":{"\\udc00":1}}',
      headers: { 'content-type': 'application/json' },
    });
    expect(key.status).toBe(400);
    expect(key.body.error.details).toEqual([
      { path: 'body.metadata', message: expect.stringContaining('lone surrogate') as string },
    ]);
  });

  it('answers 400 to JSON nested too deep to store', async () => {
    const depth = 10_000;
    const answer = await tc.call('PATCH', '/api/fleet/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV', {
      body: `{"factoryId":"f1","stage":"building","leaseEpoch":1,"result":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
      headers: { 'content-type': 'application/json' },
      token: tc.tokens.factory,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([
      {
        path: expect.stringMatching(/^body\.result\.a(\.0)+$/) as string,
        message: expect.stringContaining('deeper') as string,
      },
    ]);
  });

  it('answers 400 to a YAML alias bomb', async () => {
    const bomb = [
      'a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'body: x',
    ].join('\n');
    const answer = await tc.call('POST', '/api/jobs', { body: bomb, headers: { 'content-type': 'application/yaml' } });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'invalid_input', details: [{ path: 'body' }] });
  });

  it('answers 400 to malformed JSON', async () => {
    const answer = await tc.call('POST', '/api/jobs', {
      body: '{"body": "Do it.",',
      headers: { 'content-type': 'application/json' },
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: { code: expect.any(String) as string, message: expect.any(String) as string, details: [] },
    });
  });

  it('answers 422 naming the allowed stages to a report of "assigned" on a claimed job', async () => {
    const headers = { 'x-product-id': `stage-${backend}` };
    const submitted = await tc.call('POST', '/api/jobs', {
      json: { body: 'Walk the stages.', repo: 'https://git.example/app.git' },
      headers,
    });
    expect(submitted.status).toBe(201);
    const claimed = await tc.call('POST', '/api/fleet/claim', {
      token: tc.tokens.factory,
      json: { factoryId: 'f1', capabilities: [] },
      headers,
    });
    expect(claimed.status).toBe(200);
    expect(claimed.body.job.id).toBe(submitted.body.id);
    const answer = await tc.call('PATCH', `/api/fleet/jobs/${submitted.body.id as string}`, {
      token: tc.tokens.factory,
      json: { factoryId: 'f1', stage: 'assigned', leaseEpoch: claimed.body.leaseEpoch as number },
      headers,
    });
    expect(answer.status).toBe(422);
    expect(answer.body.error).toMatchObject({
      code: 'illegal_transition',
      message: expect.stringContaining('building, blocked, failed') as string,
      allowed: ['building', 'blocked', 'failed'],
      details: [],
    });
  });
});

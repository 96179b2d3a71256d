/**
 * The HTTP side of one registry operation: each request under a time limit, redirects followed by hand
 * (the credential never leaves the registry's origin nor goes over plain HTTP to a remote host), the 401
 * challenge answered with the caller's one credential (`Bearer` token realm or `Basic`), and every form
 * of that credential redacted from the messages of the `RegistryError`s it raises.
 */
import { RegistryError, type RegistryErrorEntry, type RegistryErrorKind } from './errors.js';
import { isLoopback, type OciReference } from './oci-reference.js';

const MAX_REDIRECTS = 5;

/** What a session needs of the compiled registry options. */
export interface SessionOptions {
  /** `user:password` or a token; undefined for anonymous. */
  token: string | undefined;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

const KIND_BY_STATUS: Readonly<Record<number, RegistryErrorKind>> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
};

/** `WWW-Authenticate: Scheme k="v",k2=v2` → scheme and parameters. */
function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/([A-Za-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    const key = match[1];
    if (key !== undefined) params[key.toLowerCase()] = (match[2] ?? match[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme, params };
}

/** One operation against one repository: the credential obtained from a challenge is kept for it. */
export class Session {
  private authorization: string | undefined;
  private readonly secrets: string[] = [];

  constructor(
    readonly ref: OciReference,
    private readonly options: SessionOptions,
  ) {
    const token = options.token;
    if (token === undefined) return;
    this.secrets.push(token, Buffer.from(token).toString('base64'));
    // The password alone too, when the token is a login (a server may quote what it refused).
    const password = token.slice(token.indexOf(':') + 1);
    if (token.includes(':') && password.length >= 4) this.secrets.push(password);
  }

  /** `message` with every form of the credential we know replaced: a registry may echo what it was sent. */
  redact(message: string): string {
    let text = message;
    for (const secret of this.secrets) if (secret.length > 0) text = text.split(secret).join('[redacted]');
    return text;
  }

  error(kind: RegistryErrorKind, message: string, status?: number, entries: RegistryErrorEntry[] = []): RegistryError {
    return new RegistryError(kind, this.redact(message), status, entries);
  }

  url(path: string): string {
    return `${this.ref.baseUrl}/v2/${this.ref.repository}/${path}`;
  }

  /** HTTP only to loopback: the same rule for a Location, a redirect and a token realm as for the reference. */
  checkUrl(url: URL, what: string): void {
    const loopback = isLoopback(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
      throw this.error('unexpected_response', `${what}: ${url.origin} is not HTTPS (plain HTTP is for loopback only)`);
  }

  private async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: Uint8Array,
  ): Promise<Response> {
    const signals = [AbortSignal.timeout(this.options.timeoutMs)];
    if (this.options.signal !== undefined) signals.push(this.options.signal);
    try {
      const init: RequestInit = { method, headers, redirect: 'manual', signal: AbortSignal.any(signals) };
      if (body !== undefined) init.body = body;
      return await fetch(url, init);
    } catch (error) {
      const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : '';
      throw new RegistryError(
        'unreachable',
        this.redact(`${method} ${new URL(url).origin}: ${reason || 'no answer'}`),
        undefined,
        [],
        { cause: error },
      );
    }
  }

  /**
   * One request, authenticated on demand: a 401 is answered once by following its challenge, and the
   * credential is kept for the next requests. Redirects (blob downloads) are followed by hand so the
   * credential never leaves for another origin and never goes over plain HTTP to a remote host.
   */
  async request(
    method: string,
    target: string,
    what: string,
    init: { headers?: Record<string, string>; body?: Uint8Array } = {},
  ): Promise<Response> {
    let url = target;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
      const sameOrigin = new URL(url).origin === new URL(this.ref.baseUrl).origin;
      const headers = { ...init.headers };
      if (sameOrigin && this.authorization !== undefined) headers.authorization = this.authorization;
      let response = await this.send(method, url, headers, init.body);
      if (response.status === 401 && sameOrigin) {
        const challenge = response.headers.get('www-authenticate');
        const refused = await this.fail(response, what);
        if (challenge === null) throw refused;
        const before = this.authorization;
        const authorization = await this.authorize(challenge, what);
        // The same credential again would be refused again (a wrong Basic password).
        if (authorization === before) throw refused;
        this.authorization = authorization;
        response = await this.send(method, url, { ...headers, authorization }, init.body);
        if (response.status === 401) throw await this.fail(response, `${what} (credentials refused)`);
      }
      if (response.status < 300 || response.status >= 400 || response.status === 304) return response;
      const location = response.headers.get('location');
      await response.body?.cancel();
      if (location === null) throw this.error('unexpected_response', `${what}: redirect without a Location`);
      const next = new URL(location, url);
      this.checkUrl(next, what);
      url = next.href;
    }
    throw this.error('unexpected_response', `${what}: more than ${String(MAX_REDIRECTS)} redirects`);
  }

  /** The Authorization header a challenge asks for. */
  private async authorize(header: string, what: string): Promise<string> {
    const { scheme, params } = parseChallenge(header);
    const token = this.options.token;
    const basic = token?.includes(':') === true ? `Basic ${Buffer.from(token).toString('base64')}` : undefined;
    if (scheme === 'basic') {
      if (token === undefined)
        throw this.error('unauthorized', `${what}: the registry needs credentials (set [tools] registryTokenEnv)`, 401);
      if (basic === undefined)
        throw this.error(
          'unauthorized',
          `${what}: the registry asks for Basic auth: give the token as user:password`,
          401,
        );
      return basic;
    }
    if (scheme !== 'bearer') throw this.error('unauthorized', `${what}: unsupported auth scheme "${scheme}"`, 401);
    const realm = params.realm;
    if (realm === undefined) throw this.error('unauthorized', `${what}: Bearer challenge without a realm`, 401);
    const url = new URL(realm, this.ref.baseUrl);
    this.checkUrl(url, `${what}: token realm`);
    if (params.service !== undefined) url.searchParams.set('service', params.service);
    for (const scope of (params.scope ?? '').split(' ')) if (scope !== '') url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = basic ?? `Bearer ${token}`;
    const response = await this.send('GET', url.href, headers);
    if (response.status !== 200) throw await this.fail(response, `${what}: token from ${url.origin}`);
    const answer = (await response.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown };
    const issued = typeof answer.token === 'string' ? answer.token : answer.access_token;
    if (typeof issued !== 'string' || issued === '')
      throw this.error('unauthorized', `${what}: the token realm ${url.origin} answered no token`);
    this.secrets.push(issued);
    return `Bearer ${issued}`;
  }

  /** The error for an answer we did not expect, with the registry's own error entries. */
  async fail(response: Response, what: string): Promise<RegistryError> {
    const text = await response.text().catch(() => '');
    let entries: RegistryErrorEntry[] = [];
    try {
      const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
      entries = (body.errors ?? []).map((entry) => ({
        code: typeof entry.code === 'string' ? entry.code : 'UNKNOWN',
        message: typeof entry.message === 'string' ? entry.message : '',
      }));
    } catch {
      // Not the registry's JSON error body: quote the start of the text instead.
    }
    const quoted = entries.length > 0 ? entries.map((e) => `${e.code}: ${e.message}`).join('; ') : text.slice(0, 200);
    const kind = KIND_BY_STATUS[response.status] ?? 'unexpected_response';
    const statusText = `HTTP ${String(response.status)}`;
    return this.error(kind, `${what}: ${statusText}${quoted === '' ? '' : ` (${quoted})`}`, response.status, entries);
  }
}

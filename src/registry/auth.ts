import type { Agent } from 'undici';
import { undici } from './undici.js';
import { z } from 'zod';
import { parseJson } from '../oci/schemas.js';
import { UserError } from '../util/errors.js';
import { VERSION } from '../version.js';
import { BODY_CAPS, readCapped } from './body.js';
import type { Credential } from './credentials.js';
import { RegistryError } from './registry-error.js';
import { isLoopback } from './transport.js';

/** What the authenticator needs of the registry connection it serves (RegistryHttp). */
export interface AuthTransport {
  /** The registry's API host, e.g. `registry-1.docker.io` or `127.0.0.1:5000`. */
  readonly host: string;
  readonly timeoutMs: number;
  agentFor(host: string): Promise<Agent>;
  /** The URL if the plain-HTTP rule allows it; throws otherwise. */
  checkedHop(url: URL, what: string, how: string): URL;
  /** A network failure as a one-line error (timeouts say so). */
  networkError(err: unknown, url: URL, what: string): Error;
}

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/**
 * Parses `WWW-Authenticate` (RFC 7235): `Bearer realm="…",service="…",scope="…"`.
 * Quoted values may hold commas and escaped quotes.
 */
export function parseChallenge(header: string): Challenge | undefined {
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?/g;
  for (const m of match[2]!.matchAll(re)) params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  return { scheme, params };
}

const TokenResponse = z.looseObject({ token: z.string().optional(), access_token: z.string().optional(), expires_in: z.number().optional() });

interface CachedToken {
  value: string;
  expires: number;
}

/** The scope string distribution's token auth uses for a repository. */
export function repositoryScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

/**
 * Authorization for one registry: learns the scheme from the first 401, then sends Basic
 * credentials or fetches bearer tokens per scope set (cached until shortly before they
 * expire). Credentials only ever go to the registry and its token realm.
 */
export class Authenticator {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();

  constructor(
    private readonly domain: string,
    private readonly credential: Credential | undefined,
    private readonly transport: AuthTransport,
  ) {}

  get hasCredential(): boolean {
    return this.credential !== undefined;
  }

  /** The Authorization header for a request needing `scopes`, if the scheme is known. */
  async header(scopes: string[]): Promise<string | undefined> {
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === 'basic') return this.basic();
    const cached = this.tokens.get(scopeKey(scopes));
    if (cached && cached.expires > Date.now()) return `Bearer ${cached.value}`;
    return `Bearer ${await this.fetchToken(scopes)}`;
  }

  /** Takes a 401's challenge; true when retrying with new authorization may succeed. */
  async learn(header: string | undefined, scopes: string[]): Promise<boolean> {
    const challenge = header ? parseChallenge(header) : undefined;
    if (!challenge) return false;
    const fresh = !this.challenge || this.challenge.scheme !== challenge.scheme || this.challenge.params.realm !== challenge.params.realm;
    this.challenge = challenge;
    if (challenge.scheme === 'basic') return fresh && this.credential !== undefined && !('identityToken' in this.credential);
    this.tokens.delete(scopeKey(scopes));
    return true;
  }

  private basic(): string | undefined {
    if (!this.credential || 'identityToken' in this.credential) return undefined;
    return `Basic ${Buffer.from(`${this.credential.username}:${this.credential.password}`).toString('base64')}`;
  }

  private async fetchToken(scopes: string[]): Promise<string> {
    const params = this.challenge!.params;
    const realm = params.realm;
    if (!realm) throw new UserError(`registry ${this.domain} asked for a bearer token without saying where to get one`, { hint: 'the registry is misconfigured (no realm in WWW-Authenticate)' });
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UserError(`registry ${this.domain} gave an invalid token realm "${realm}"`, { hint: 'the registry is misconfigured' });
    }
    const what = `token service of ${this.domain}`;
    this.transport.checkedHop(url, what, 'sent the client for tokens to');
    // A credential over plain HTTP stays on the registry's own host (or on this machine): a
    // realm elsewhere would read it off the wire.
    const registryHost = new URL(`http://${this.transport.host}/`).hostname;
    if (this.credential && url.protocol === 'http:' && url.hostname !== registryHost && !(isLoopback(url.host) && isLoopback(this.transport.host))) {
      throw new UserError(`${what}: the token realm ${url.protocol}//${url.host}${url.pathname} is plain HTTP on another host than the registry; the credentials are not sent there`, { hint: 'the registry is misconfigured, or something rewrote its answer' });
    }
    const allScopes = scopes.length > 0 ? scopes : params.scope ? [params.scope] : [];
    const agent = await this.transport.agentFor(url.host);
    const timeouts = { headersTimeout: this.transport.timeoutMs, bodyTimeout: this.transport.timeoutMs };
    const headers: Record<string, string> = { 'user-agent': `sealbuild/${VERSION}` };
    let response;
    try {
      if (this.credential && 'identityToken' in this.credential) {
        // OAuth2 refresh-token grant, as docker does for identity tokens.
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.credential.identityToken, client_id: 'sealbuild', service: params.service ?? '', scope: allScopes.join(' ') });
        response = await (await undici()).request(url, { method: 'POST', dispatcher: agent, headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), ...timeouts });
      } else {
        if (params.service) url.searchParams.set('service', params.service);
        for (const scope of allScopes) url.searchParams.append('scope', scope);
        const basic = this.basic();
        response = await (await undici()).request(url, { method: 'GET', dispatcher: agent, headers: basic ? { ...headers, authorization: basic } : headers, ...timeouts });
      }
    } catch (err) {
      throw this.transport.networkError(err, url, what);
    }
    let text: string;
    try {
      text = (await readCapped(response.body, { max: BODY_CAPS.token, deadlineMs: this.transport.timeoutMs, what, contentLength: response.headers['content-length'] })).toString('utf8');
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw this.transport.networkError(err, url, what);
    }
    if (response.statusCode === 401 || response.statusCode === 403) {
      throw new RegistryError(`registry ${this.domain} rejected ${this.credential ? 'the credentials' : 'anonymous access'}`, `run sealbuild login ${this.domain}`, false, this.credential !== undefined);
    }
    if (response.statusCode !== 200) {
      throw new UserError(`token service of ${this.domain} answered HTTP ${response.statusCode}`, { hint: 'try again later' });
    }
    const body = parseJson(TokenResponse, text, `token service of ${this.domain}: the answer`, { hint: 'the registry is misconfigured' });
    const token = body.token ?? body.access_token;
    if (!token) throw new UserError(`token service of ${this.domain} sent no token`, { hint: 'the registry is misconfigured' });
    // Refresh 10 s early; 60 s is the spec's default lifetime.
    this.tokens.set(scopeKey(scopes), { value: token, expires: Date.now() + Math.max((body.expires_in ?? 60) - 10, 5) * 1000 });
    return token;
  }
}

function scopeKey(scopes: string[]): string {
  return [...scopes].sort().join(' ');
}

import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { undici } from './undici.js';
import { UserError } from '../util/errors.js';
import { VERSION } from '../version.js';
import { Authenticator } from './auth.js';
import { findCredential, type Credential } from './credentials.js';
import { Transport, apiHost, isLoopback } from './transport.js';

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface RegistryRequest {
  method: Method;
  /** `/v2/…` or an absolute URL (an upload Location). */
  url: string;
  headers?: Record<string, string>;
  /** A fresh body per attempt: retries must resend it from the start. */
  body?: () => Readable | Buffer | string;
  /** Token scopes the request needs. */
  scopes: string[];
  /** Statuses the caller handles; any other is an error (or a retry). */
  ok: number[];
  /** What is being fetched, for messages: `manifest docker.io/library/nginx:1.25`. */
  what: string;
  /**
   * False for upload steps: resending one to the same upload URL is not safe, so the
   * upload logic recovers instead (new session, or resume from the registry's offset).
   */
  retry?: boolean;
}

/** A registry failure; `transient` when trying again (later, or anew) may succeed. */
export class RegistryError extends UserError {
  constructor(message: string, hint: string, readonly transient: boolean) {
    super(message, { hint });
    this.name = 'RegistryError';
  }
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  url: URL;
}

/** How many times a request is tried, and the backoff between tries. */
export const RETRY = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const RETRY_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED']);

/** A network failure worth another try (a reset connection, a timeout). */
export function isRetryableError(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
  return code !== undefined && RETRY_CODES.has(code);
}

export function backoffMs(attempt: number, retryAfter?: string | string[]): number {
  const header = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  if (header !== undefined) {
    const seconds = Number(header);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
    if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, RETRY.maxRetryAfterMs);
  }
  return Math.min(RETRY.baseDelayMs * 2 ** attempt, RETRY.maxDelayMs) * (0.75 + Math.random() * 0.5);
}

function errorCode(err: unknown): string {
  return (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER/;
const TLS_PROTOCOL = /wrong version number|packet length too long|EPROTO|ERR_SSL/i;

/**
 * HTTP to one registry: scheme detection (HTTPS; plain HTTP only for loopback hosts or with
 * --tls-verify=false, as docker allows), authorization, retries with backoff honouring
 * Retry-After, and redirects that never carry Authorization to another host.
 */
export class RegistryHttp {
  readonly host: string;
  private ready: Promise<{ base: URL; auth: Authenticator }> | undefined;

  constructor(
    readonly domain: string,
    private readonly transport: Transport,
    /** Credentials to use instead of the saved ones (login checks new ones this way). */
    private readonly credential?: Credential,
  ) {
    this.host = apiHost(domain);
  }

  async send(req: RegistryRequest): Promise<RegistryResponse> {
    this.ready ??= this.connect();
    const { base, auth } = await this.ready;
    let url = new URL(req.url, base);
    let reauthorized = false;
    for (let attempt = 0, redirects = 0; ; ) {
      const sameHost = url.host === base.host;
      const headers: Record<string, string> = { 'user-agent': `sealbuild/${VERSION}`, ...req.headers };
      const authorization = sameHost ? await auth.header(req.scopes) : undefined;
      if (authorization) headers.authorization = authorization;
      let response: Dispatcher.ResponseData;
      try {
        response = await (await undici()).request(url, {
          method: req.method,
          headers,
          body: req.body?.() ?? null,
          dispatcher: await this.transport.agentFor(url.host),
          headersTimeout: 60_000,
          bodyTimeout: 120_000,
        });
      } catch (err) {
        if (req.retry !== false && isRetryableError(err) && attempt + 1 < RETRY.attempts) {
          await sleep(backoffMs(attempt++));
          continue;
        }
        throw this.networkError(err, url);
      }
      const status = response.statusCode;
      if (status === 401 && sameHost && !reauthorized) {
        await response.body.dump();
        reauthorized = true;
        if (await auth.learn(header(response.headers['www-authenticate']), req.scopes)) continue;
        throw this.authError(req, auth);
      }
      if (REDIRECT_STATUS.has(status) && (req.method === 'GET' || req.method === 'HEAD') && response.headers.location && redirects < 5) {
        await response.body.dump();
        url = new URL(header(response.headers.location)!, url);
        redirects += 1;
        continue;
      }
      if (req.ok.includes(status)) return { status, headers: response.headers, body: response.body, url };
      if (req.retry !== false && RETRY_STATUS.has(status) && attempt + 1 < RETRY.attempts) {
        await response.body.dump();
        await sleep(backoffMs(attempt++, response.headers['retry-after']));
        continue;
      }
      throw await this.statusError(req, status, response, auth);
    }
  }

  /**
   * Finds out once whether the registry speaks HTTPS or plain HTTP, and learns its auth
   * scheme from the `/v2/` challenge so that the first real request already carries a token.
   */
  private async connect(): Promise<{ base: URL; auth: Authenticator }> {
    const credential = this.credential ?? (await findCredential(this.domain));
    const auth = new Authenticator(this.domain, credential, (h) => this.transport.agentFor(h));
    const https = new URL(`https://${this.host}/`);
    const plainAllowed = isLoopback(this.host) || !this.transport.options.tlsVerify;
    for (const base of plainAllowed ? [https, new URL(`http://${this.host}/`)] : [https]) {
      for (let attempt = 0; ; attempt++) {
        try {
          const response = await (await undici()).request(new URL('/v2/', base), { method: 'GET', dispatcher: await this.transport.agentFor(this.host), headers: { 'user-agent': `sealbuild/${VERSION}` } });
          await response.body.dump();
          if (response.statusCode === 401) await auth.learn(header(response.headers['www-authenticate']), []);
          return { base, auth };
        } catch (err) {
          if (base === https && plainAllowed && TLS_PROTOCOL.test(`${errorCode(err)} ${(err as Error).message}`)) break;
          if (isRetryableError(err) && errorCode(err) !== 'ECONNREFUSED' && attempt + 1 < RETRY.attempts) {
            await sleep(backoffMs(attempt));
            continue;
          }
          throw this.networkError(err, base);
        }
      }
    }
    throw new Error('unreachable: the plain HTTP probe returns or throws');
  }

  private networkError(err: unknown, url: URL): RegistryError {
    const code = errorCode(err);
    if (code === 'ENOTFOUND' || code === 'EAI_NONAME') {
      return new RegistryError(`cannot resolve registry host ${url.hostname}`, 'check the registry name in the image reference', false);
    }
    if (TLS_CODES.test(code)) {
      return new RegistryError(
        `TLS verification failed for ${url.host}: ${(err as Error).message || code}`,
        `put the registry's CA in /etc/containers/certs.d/${url.host}/ca.crt or pass --cert-dir DIR; --tls-verify=false skips verification`,
        false,
      );
    }
    return new RegistryError(`cannot reach registry ${url.host}: ${code}`, 'check the host, the port and your network', isRetryableError(err));
  }

  private authError(req: RegistryRequest, auth: Authenticator): RegistryError {
    return new RegistryError(`${req.what}: registry ${this.domain} ${auth.hasCredential ? 'rejected the credentials' : 'requires authentication'}`, `run sealbuild login ${this.domain}`, false);
  }

  private async statusError(req: RegistryRequest, status: number, response: Dispatcher.ResponseData, auth: Authenticator): Promise<RegistryError> {
    const text = req.method === 'HEAD' ? '' : await response.body.text().catch(() => '');
    if (req.method === 'HEAD') await response.body.dump();
    const detail = registryErrorText(text);
    const suffix = detail ? ` (${detail})` : '';
    if (status === 401) return this.authError(req, auth);
    if (status === 403) return new RegistryError(`${req.what}: access denied by ${this.domain}${suffix}`, `check your permissions on ${this.domain}, or run sealbuild login ${this.domain}`, false);
    // A lost upload session (404, 416) is transient for the upload logic: it starts anew.
    if (status === 404) return new RegistryError(`${req.what}: not found on ${this.domain}${suffix}`, 'check the repository name and tag', req.url.includes('/blobs/uploads/'));
    const transient = RETRY_STATUS.has(status) || status === 416;
    return new RegistryError(`${req.what}: registry ${this.domain} answered HTTP ${status}${suffix}`, transient ? 'the registry kept failing; try again later' : 'see the registry logs', transient);
  }
}

/** `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…"}]}` as one short line. */
function registryErrorText(text: string): string {
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    return (body.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  } catch {
    return '';
  }
}

export function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

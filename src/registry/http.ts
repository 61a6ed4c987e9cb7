import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Agent, Dispatcher } from 'undici';
import { undici } from './undici.js';
import { z } from 'zod';
import { checkedJson } from '../oci/schemas.js';
import { redactedUrl } from '../util/redact-url.js';
import { VERSION } from '../version.js';
import { Authenticator } from './auth.js';
import { BODY_CAPS, discard, readCapped } from './body.js';
import { findCredential, type Credential } from './credentials.js';
import { RegistryError } from './registry-error.js';
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
  /**
   * The body is a blob the caller streams (it may be gigabytes): it gets the stall timeout but
   * no deadline. Every other body is read whole, so it must arrive within the timeout.
   */
  streamed?: boolean;
}

export { RegistryError } from './registry-error.js';

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  url: URL;
}

/**
 * How many times a request is tried, and the backoff between tries. A timeout is tried only
 * twice: five silent tries of 30 s would hold a command for minutes. Waits a registry asks for
 * (Retry-After) are capped, and so is their sum per request.
 */
export const RETRY = { attempts: 5, timeoutAttempts: 2, baseDelayMs: 200, maxDelayMs: 10_000, maxRetryAfterMs: 20_000, maxTotalWaitMs: 40_000 };
export const MAX_REDIRECTS = 5;

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'SEALBUILD_DEADLINE', 'SEALBUILD_STALLED']);
const RETRY_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', ...TIMEOUT_CODES]);

/** A network failure worth another try (a reset connection, a cut-off body, a timeout). */
export function isRetryableError(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && RETRY_CODES.has(code);
}

export function isTimeout(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && TIMEOUT_CODES.has(code);
}

/** Whether a request that failed with `err` on try `attempt` (0-based) gets another try. */
export function mayRetry(err: unknown, attempt: number): boolean {
  return isRetryableError(err) && attempt + 1 < (isTimeout(err) ? RETRY.timeoutAttempts : RETRY.attempts);
}

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
}

/** What a network failure was, for a message: timeouts say "timed out" or "stalled". */
export function describeNetworkError(err: unknown, timeoutMs: number): string {
  const seconds = `${timeoutMs / 1000} s`;
  switch (codeOf(err)) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `timed out: no connection within ${seconds}`;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `timed out: no answer within ${seconds}`;
    case 'UND_ERR_BODY_TIMEOUT':
      return `stalled: no data for ${seconds}`;
    case 'SEALBUILD_DEADLINE':
      return `timed out: ${(err as Error).message}`;
    case 'SEALBUILD_STALLED':
      return `stalled: ${(err as Error).message}`;
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return `connection closed early (${(err as Error).message})`;
    default:
      return errorCode(err);
  }
}

const OFFLINE_HINT = 'connect it to the network, or build from what needs none: images in the store (sealbuild load) or image files (oci-archive:PATH in an imageList)';

export const TIMEOUT_HINT = 'the registry is slow or not answering; try again later, or give it more time with --timeout SECONDS';

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
  return codeOf(err) ?? (err as Error).message;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER/;
const TLS_PROTOCOL = /wrong version number|packet length too long|EPROTO|ERR_SSL/i;

/**
 * HTTP to one registry: scheme detection (HTTPS; plain HTTP only for loopback hosts or with
 * --tls-verify=false, as docker allows, on every hop), authorization, retries with backoff
 * honouring Retry-After, timeouts (no answer, no data, no whole answer within --timeout), and
 * redirects that never carry Authorization to another origin.
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

  agentFor(host: string): Promise<Agent> {
    return this.transport.agentFor(host);
  }

  /** The stall timeout (and the deadline for a body read whole). */
  get timeoutMs(): number {
    return this.transport.timeoutMs;
  }

  async send(req: RegistryRequest): Promise<RegistryResponse> {
    this.ready ??= this.connect();
    const { base, auth } = await this.ready;
    // An absolute URL came from the registry (an upload's Location): a hop like a redirect.
    let url = new URL(req.url, base);
    if (url.origin !== base.origin) url = this.checkedHop(url, req.what, 'sent the request to');
    let reauthorized = false;
    let waited = 0;
    const wait = async (ms: number): Promise<boolean> => {
      if (waited + ms > RETRY.maxTotalWaitMs) return false;
      waited += ms;
      await sleep(ms);
      return true;
    };
    for (let attempt = 0, redirects = 0; ; ) {
      // The origin, not only the host: a downgrade to plain HTTP on the same host gets no credentials either.
      const sameOrigin = url.origin === base.origin;
      const headers: Record<string, string> = { 'user-agent': `sealbuild/${VERSION}`, ...req.headers };
      const authorization = sameOrigin ? await auth.header(req.scopes) : undefined;
      if (authorization) headers.authorization = authorization;
      let response: Dispatcher.ResponseData;
      try {
        response = await (await undici()).request(url, {
          method: req.method,
          headers,
          body: req.body?.() ?? null,
          dispatcher: await this.transport.agentFor(url.host),
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        });
      } catch (err) {
        if (req.retry !== false && mayRetry(err, attempt) && (await wait(backoffMs(attempt)))) {
          attempt++;
          continue;
        }
        throw this.networkError(err, url, req.what);
      }
      const status = response.statusCode;
      if (status === 401 && sameOrigin && !reauthorized) {
        await discard(response.body, this.timeoutMs);
        reauthorized = true;
        if (await auth.learn(header(response.headers['www-authenticate']), req.scopes)) continue;
        throw this.authError(req, auth);
      }
      const location = header(response.headers.location);
      if (REDIRECT_STATUS.has(status) && (req.method === 'GET' || req.method === 'HEAD') && location) {
        await discard(response.body, this.timeoutMs);
        if (redirects >= MAX_REDIRECTS) {
          throw new RegistryError(`${req.what}: registry ${this.domain} redirected more than ${MAX_REDIRECTS} times (a redirect loop?), last to ${redactedUrl(new URL(location, url))}`, 'the registry or a proxy in front of it is misconfigured', false);
        }
        url = this.checkedHop(new URL(location, url), req.what, 'redirected to');
        redirects += 1;
        continue;
      }
      if (req.ok.includes(status)) return { status, headers: response.headers, body: response.body, url };
      if (req.retry !== false && RETRY_STATUS.has(status) && attempt + 1 < RETRY.attempts) {
        await discard(response.body, this.timeoutMs);
        if (await wait(backoffMs(attempt, response.headers['retry-after']))) {
          attempt++;
          continue;
        }
      }
      throw await this.statusError(req, status, response, auth);
    }
  }

  /**
   * The rule for plain HTTP holds on every hop, not only the first: a redirect or a token realm
   * may use it only where the registry itself may (a loopback host, or --tls-verify=false).
   */
  checkedHop(url: URL, what: string, how: string): URL {
    if (url.protocol === 'https:') return url;
    if (url.protocol === 'http:' && (isLoopback(url.host) || !this.transport.options.tlsVerify)) return url;
    throw new RegistryError(`${what}: registry ${this.domain} ${how} ${redactedUrl(url)}, which is not HTTPS`, 'plain HTTP is used only for loopback hosts or with --tls-verify=false', false);
  }

  /**
   * Finds out once whether the registry speaks HTTPS or plain HTTP, and learns its auth
   * scheme from the `/v2/` challenge so that the first real request already carries a token.
   */
  private async connect(): Promise<{ base: URL; auth: Authenticator }> {
    const credential = this.credential ?? (await findCredential(this.domain));
    const auth = new Authenticator(this.domain, credential, this);
    const https = new URL(`https://${this.host}/`);
    const plainAllowed = isLoopback(this.host) || !this.transport.options.tlsVerify;
    for (const base of plainAllowed ? [https, new URL(`http://${this.host}/`)] : [https]) {
      for (let attempt = 0; ; attempt++) {
        try {
          const response = await (await undici()).request(new URL('/v2/', base), {
            method: 'GET', dispatcher: await this.transport.agentFor(this.host), headers: { 'user-agent': `sealbuild/${VERSION}` },
            headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs,
          });
          await discard(response.body, this.timeoutMs);
          if (response.statusCode === 401) await auth.learn(header(response.headers['www-authenticate']), []);
          return { base, auth };
        } catch (err) {
          // A registry that wants mutual TLS hangs up on the first request (TLS 1.3) or the handshake.
          if (base === https && (codeOf(err) === 'UND_ERR_SOCKET' || /ALERT/.test(errorCode(err)))) {
            const problem = await this.transport.clientCertificateProblem(this.host);
            if (problem) throw new RegistryError(problem.message, problem.hint, false);
          }
          if (base === https && plainAllowed && TLS_PROTOCOL.test(`${errorCode(err)} ${(err as Error).message}`)) break;
          if (errorCode(err) !== 'ECONNREFUSED' && mayRetry(err, attempt)) {
            await sleep(backoffMs(attempt));
            continue;
          }
          throw this.networkError(err, base, `registry ${this.domain}`);
        }
      }
    }
    throw new Error('unreachable: the plain HTTP probe returns or throws');
  }

  /** A failure to get an answer, as a RegistryError (retryable ones marked transient). */
  networkError(err: unknown, url: URL, what: string): RegistryError {
    if (err instanceof RegistryError) return err;
    const code = errorCode(err);
    if (isTimeout(err)) return new RegistryError(`${what}: ${url.host} ${describeNetworkError(err, this.timeoutMs)}`, TIMEOUT_HINT, true);
    if (code === 'ENOTFOUND' || code === 'EAI_NONAME') {
      return new RegistryError(`cannot resolve registry host ${url.hostname}: DNS knows no such name`, 'check the registry name in the image reference', false);
    }
    if (code === 'EAI_AGAIN') {
      return new RegistryError(`cannot resolve registry host ${url.hostname}: no DNS server answered (${code}); this machine looks offline`, OFFLINE_HINT, false);
    }
    if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') {
      return new RegistryError(`cannot reach registry ${url.host}: no network route to it (${code}); this machine looks offline`, OFFLINE_HINT, false);
    }
    if (TLS_CODES.test(code)) {
      return new RegistryError(
        `TLS verification failed for ${url.host}: ${(err as Error).message || code}`,
        `put the registry's CA in /etc/containers/certs.d/${url.host}/ca.crt or pass --cert-dir DIR; --tls-verify=false skips verification`,
        false,
      );
    }
    if (code === 'UND_ERR_SOCKET' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
      return new RegistryError(`${what}: ${url.host} ${describeNetworkError(err, this.timeoutMs)}`, 'the registry or the network cut the answer short; try again', true);
    }
    return new RegistryError(`cannot reach registry ${url.host}: ${code}`, 'check the host, the port and your network', isRetryableError(err));
  }

  private authError(req: RegistryRequest, auth: Authenticator): RegistryError {
    return new RegistryError(`${req.what}: registry ${this.domain} ${auth.hasCredential ? 'rejected the credentials' : 'requires authentication'}`, `run sealbuild login ${this.domain}`, false, auth.hasCredential);
  }

  private async statusError(req: RegistryRequest, status: number, response: Dispatcher.ResponseData, auth: Authenticator): Promise<RegistryError> {
    // Read only for its message, so within the error cap; an endless or trickling one is dropped.
    const text = req.method === 'HEAD' ? '' : (await readCapped(response.body, { max: BODY_CAPS.error, deadlineMs: this.timeoutMs, what: req.what }).catch(() => Buffer.alloc(0))).toString('utf8');
    if (req.method === 'HEAD') await discard(response.body, this.timeoutMs);
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

/** The distribution spec's error body; anything else in an error answer is ignored. */
const ErrorBodySchema = z.looseObject({ errors: z.array(z.looseObject({ code: z.string().optional(), message: z.string().optional() })).optional() });

/** `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…"}]}` as one short line ('' for another body). */
function registryErrorText(text: string): string {
  const body = checkedJson(ErrorBodySchema, text);
  return (body?.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
}

export function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

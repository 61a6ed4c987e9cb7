import { randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { removeDir, run, tempDir, tool } from './cli.js';

/** One request the token server answered, in arrival order. */
export interface TokenRequest {
  method: 'GET' | 'POST';
  /** `password` or `refresh_token` for POST (OAuth2); undefined for GET. */
  grantType?: string;
  /** The user the request authenticated as (or claimed to be, when it got 401); undefined = anonymous. */
  user: string | undefined;
  /** The `service` parameter as sent. */
  service: string | undefined;
  /** Every requested scope, e.g. `repository:library/app:pull,push`, in the order sent. */
  scopes: string[];
  /** The HTTP status the server answered. */
  status: number;
}

export interface TokenServerOptions {
  /** user -> password. */
  users: Record<string, string>;
  /**
   * The scopes to grant (same `type:name:actions` syntax). Default: an authenticated user gets
   * every scope it asks for, an anonymous client only the `pull` part of each.
   */
  grants?: (user: string | undefined, requestedScopes: string[]) => string[];
}

export interface TokenServer {
  /** `http://127.0.0.1:PORT/token`: the registry's `auth.token.realm`. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM file of the signing certificate: the registry's `auth.token.rootcertbundle`. */
  rootCertBundle: string;
  requests: TokenRequest[];
  /** Closes the server and removes its key; safe to call twice. */
  stop(): Promise<void>;
}

const SERVICE = 'sealbuild-test-registry';
const ISSUER = 'sealbuild-test-token-server';
const EXPIRES_IN_SECONDS = 300;

function defaultGrants(user: string | undefined, scopes: string[]): string[] {
  if (user !== undefined) return scopes;
  return scopes.flatMap((s) => {
    const access = parseScope(s);
    return access?.actions.includes('pull') ? [`${access.type}:${access.name}:pull`] : [];
  });
}

/**
 * A token server for distribution's `auth.token`: `GET /token?service=&scope=` (Basic auth
 * optional) and OAuth2 `POST /token` with `grant_type=password` (returns a `refresh_token`,
 * i.e. an identity token) or `grant_type=refresh_token`.
 */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const openssl = tool('openssl', 'openssl');
  const dir = await tempDir('sealbuild-token-');
  const certPath = join(dir, 'signing.crt');
  const keyPath = join(dir, 'signing-key.pem');
  // RSA because the tokens are RS256. distribution 2.8 trusts a token whose x5c chain
  // verifies against the root bundle; a self-signed cert is its own root.
  run(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=sealbuild test token issuer']);
  const key = await readFile(keyPath, 'utf8');
  const x5c = [new X509Certificate(await readFile(certPath)).raw.toString('base64')];
  const grants = options.grants ?? defaultGrants;
  const requests: TokenRequest[] = [];
  // refresh token -> the user it was issued to
  const refreshTokens = new Map<string, string>();

  const issue = (user: string | undefined, scopes: string[]): { token: string; access_token: string; expires_in: number; issued_at: string } => {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: ISSUER,
      sub: user ?? '',
      aud: SERVICE, // distribution 2.8 compares aud as one string, not an array
      exp: now + EXPIRES_IN_SECONDS,
      nbf: now,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access: grants(user, scopes).map((scope) => {
        const access = parseScope(scope);
        if (!access) throw new Error(`grants() returned a malformed scope ${JSON.stringify(scope)}`);
        return access;
      }),
    };
    const signingInput = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c }))}.${b64url(JSON.stringify(claims))}`;
    const token = `${signingInput}.${b64url(sign('sha256', Buffer.from(signingInput), key))}`;
    return { token, access_token: token, expires_in: EXPIRES_IN_SECONDS, issued_at: new Date(now * 1000).toISOString() };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token');
    if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) return reply(res, 404, { error: 'not found' });
    const record: TokenRequest = { method: req.method, user: undefined, service: undefined, scopes: [], status: 0 };
    requests.push(record);
    const answer = (status: number, body: object): void => {
      record.status = status;
      reply(res, status, body);
    };

    if (req.method === 'GET') {
      record.service = url.searchParams.get('service') ?? undefined;
      record.scopes = splitScopes(url.searchParams.getAll('scope'));
      const basic = parseBasic(req.headers.authorization);
      if (basic) {
        record.user = basic.user;
        if (options.users[basic.user] !== basic.password) return answer(401, { errors: [{ code: 'UNAUTHORIZED', message: 'wrong user name or password' }] });
      }
      if (record.service !== SERVICE) return answer(400, { errors: [{ code: 'DENIED', message: `unknown service ${record.service}` }] });
      if (record.scopes.some((s) => !parseScope(s))) return answer(400, { errors: [{ code: 'DENIED', message: 'malformed scope' }] });
      return answer(200, issue(record.user, record.scopes));
    }

    const form = new URLSearchParams(await readBody(req));
    record.grantType = form.get('grant_type') ?? undefined;
    record.service = form.get('service') ?? undefined;
    record.scopes = splitScopes(form.getAll('scope'));
    if (record.grantType === 'password') {
      record.user = form.get('username') ?? undefined;
      if (record.user === undefined || options.users[record.user] !== form.get('password')) return answer(401, { error: 'invalid_grant', error_description: 'wrong user name or password' });
    } else if (record.grantType === 'refresh_token') {
      record.user = refreshTokens.get(form.get('refresh_token') ?? '');
      if (record.user === undefined) return answer(401, { error: 'invalid_grant', error_description: 'unknown refresh token' });
    } else {
      return answer(400, { error: 'unsupported_grant_type' });
    }
    if (record.service !== SERVICE) return answer(400, { error: 'invalid_request', error_description: `unknown service ${record.service}` });
    if (record.scopes.some((s) => !parseScope(s))) return answer(400, { error: 'invalid_scope' });
    const body: Record<string, unknown> = { ...issue(record.user, record.scopes), scope: record.scopes.join(' ') };
    if (record.grantType === 'password') {
      const refresh = randomBytes(24).toString('base64url');
      refreshTokens.set(refresh, record.user);
      body.refresh_token = refresh;
    }
    return answer(200, body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => reply(res, 500, { error: err.message }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // A test that forgets stop() must not keep the test process alive.
  server.unref();
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service: SERVICE,
    issuer: ISSUER,
    rootCertBundle: certPath,
    requests,
    stop: () =>
      (stopped ??= (async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await removeDir(dir);
      })()),
  };
}

/** `type:name:actions`, or undefined if malformed; the name may hold colons (`host:5000/repo`). */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

/** GET repeats `scope`; the OAuth2 form joins several with spaces. Accept both everywhere. */
function splitScopes(values: string[]): string[] {
  return values.flatMap((v) => v.split(' ')).filter(Boolean);
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? { user: decoded, password: '' } : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

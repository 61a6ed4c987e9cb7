import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What goes wrong with one request:
 * - `status500` / `status503`: the proxy reads the request and answers that status with a
 *   distribution-style error body; the target never sees the request.
 * - `{ status429RetryAfter: s }`: likewise, 429 with `Retry-After: s`.
 * - `{ dropAfterBytes: n }`: forwarded; the response headers and the first n body bytes reach
 *   the client, then its connection is cut (nothing is cut if the body is not longer than n).
 * - `resetBeforeResponse`: forwarded and processed by the target (side effects happen), then
 *   the client's connection is reset (TCP RST) before any byte of the response.
 * - `corruptBlob`: forwarded; the lowest bit of the first response body byte is flipped, so
 *   the length is right and only a digest check can tell.
 */
export type Fault =
  | 'status500'
  | 'status503'
  | { status429RetryAfter: number }
  | { dropAfterBytes: number }
  | 'resetBeforeResponse'
  | 'corruptBlob';

export interface FaultRule {
  /** Which requests the rule applies to (method, url, headers; the body is not read yet). Default: all. */
  match?: (req: IncomingMessage) => boolean;
  fault: Fault;
  /** How many matching requests get the fault; after that the rule is spent. */
  times: number;
}

/** Rules in order: a request gets the fault of the first rule that matches and is not spent. */
export type FaultPlan = FaultRule[];

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT`. */
  host: string;
  /** `requests`: every request received; `faults`: faults injected, by name (`status500`,
   * `status503`, `status429`, `dropAfterBytes`, `resetBeforeResponse`, `corruptBlob`). */
  stats: { requests: number; faults: Record<string, number> };
  /** Closes the proxy and every connection it holds; safe to call twice. */
  stop(): Promise<void>;
}

// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and are not forwarded.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/** An HTTP reverse proxy in front of `target` (`http://127.0.0.1:PORT`) that injects `plan`'s faults. */
export async function startFaultProxy(target: string, plan: FaultPlan): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  if (targetUrl.protocol !== 'http:') throw new Error(`fault proxy target must be http://, got ${target}`);
  const remaining = plan.map((rule) => rule.times);
  const stats = { requests: 0, faults: {} as Record<string, number> };
  const agent = new Agent({ keepAlive: true });

  const server = createServer((req, res) => {
    stats.requests++;
    const index = plan.findIndex((rule, i) => (remaining[i] ?? 0) > 0 && (rule.match?.(req) ?? true));
    const fault = plan[index]?.fault;
    if (fault !== undefined) {
      remaining[index] = (remaining[index] ?? 0) - 1;
      const name = faultName(fault);
      stats.faults[name] = (stats.faults[name] ?? 0) + 1;
    }
    if (fault === 'status500') return answerAfterBody(req, res, 500, 'UNKNOWN', {});
    if (fault === 'status503') return answerAfterBody(req, res, 503, 'UNAVAILABLE', {});
    if (typeof fault === 'object' && 'status429RetryAfter' in fault) {
      return answerAfterBody(req, res, 429, 'TOOMANYREQUESTS', { 'retry-after': String(fault.status429RetryAfter) });
    }
    forward(req, res, fault);
  });

  function forward(req: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void {
    // Host goes through unchanged: distribution builds its absolute Location URLs from the
    // request's Host, so they already name the proxy.
    const upstream = httpRequest({
      host: targetUrl.hostname,
      port: targetUrl.port,
      method: req.method,
      path: req.url,
      headers: withoutHopByHop(req.headers),
      agent,
    });
    req.pipe(upstream);
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.on('error', (err) => {
      if (res.headersSent) res.destroy();
      else answer(res, 502, 'UNAVAILABLE', {}, `fault proxy: target failed: ${err.message}`);
    });
    upstream.on('response', (up) => {
      if (fault === 'resetBeforeResponse') {
        up.resume();
        req.socket.resetAndDestroy();
        return;
      }
      const headers = withoutHopByHop(up.headers);
      const location = up.headers.location;
      if (location) headers.location = rewriteLocation(location, targetUrl, req.headers.host);
      res.writeHead(up.statusCode ?? 502, headers);
      const dropAfter = typeof fault === 'object' && 'dropAfterBytes' in fault ? fault.dropAfterBytes : undefined;
      let sent = 0;
      let corrupt = fault === 'corruptBlob';
      up.on('data', (data: Buffer) => {
        let chunk = data;
        if (corrupt && chunk.length > 0) {
          chunk = Buffer.from(chunk);
          chunk[0] = (chunk[0] ?? 0) ^ 0x01;
          corrupt = false;
        }
        if (dropAfter !== undefined && sent + chunk.length > dropAfter) {
          up.destroy();
          res.write(chunk.subarray(0, dropAfter - sent), () => res.socket?.destroy());
          return;
        }
        sent += chunk.length;
        if (!res.write(chunk)) {
          up.pause();
          res.once('drain', () => up.resume());
        }
      });
      up.on('end', () => res.end());
      up.on('error', () => res.destroy());
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // A test that forgets stop() must not keep the test process alive.
  server.unref();
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    stats,
    stop: () =>
      (stopped ??= (async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        agent.destroy();
      })()),
  };
}

function faultName(fault: Fault): string {
  if (typeof fault === 'string') return fault;
  return 'status429RetryAfter' in fault ? 'status429' : 'dropAfterBytes';
}

/**
 * A target that names itself in Location (e.g. distribution with `http.host` set, or a
 * server that ignores Host) would send the client around the proxy: point it back here.
 */
function rewriteLocation(location: string, target: URL, proxyHost: string | undefined): string {
  if (!proxyHost || !/^https?:\/\//i.test(location)) return location;
  const url = new URL(location);
  if (url.host !== target.host) return location;
  url.protocol = 'http:';
  url.host = proxyHost;
  return url.toString();
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

/** Reads the whole request first, as a real server does before failing, so the client is not cut off mid-upload. */
function answerAfterBody(req: IncomingMessage, res: ServerResponse, status: number, code: string, headers: Record<string, string>): void {
  req.on('end', () => answer(res, status, code, headers, `fault proxy: injected ${status}`));
  req.resume();
}

function answer(res: ServerResponse, status: number, code: string, headers: Record<string, string>, message: string): void {
  const body = JSON.stringify({ errors: [{ code, message, detail: null }] });
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

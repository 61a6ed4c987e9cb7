import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream, type Digest } from '../oci/digest.js';
import { undici } from '../registry/undici.js';
import { secureContextWith } from '../util/trusted-cas.js';
import { KubefileError, type SourcePosition } from '../util/errors.js';
import { redactedUrl } from '../util/redact-url.js';

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** A URL's user:password as an Authorization header, and the URL without them. */
function basicAuth(url: string): { target: string; authorization?: string } {
  const u = new URL(url);
  if (u.username === '' && u.password === '') return { target: url };
  const pair = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = '';
  u.password = '';
  return { target: u.toString(), authorization: `Basic ${Buffer.from(pair).toString('base64')}` };
}

/** The file name a URL download gets: the last path segment, as docker does. */
export function urlFileName(url: string, pos: SourcePosition): string {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  if (name === '' || name === '.' || name === '..') {
    throw new KubefileError(pos, `cannot derive a file name from ${redactedUrl(url)}`, 'give a destination that names the file, e.g. ADD <url> /bin/tool');
  }
  return name;
}

/**
 * ADD's `--checksum` once its variables are expanded (`--checksum=${K3S_SHA256_${ARCH}}`
 * pins one checksum per platform in ARG defaults that --build-arg can override).
 */
export function expandedChecksum(value: string, written: string, pos: SourcePosition): Digest {
  if (!/^sha256:[0-9a-f]{64}$/.test(value)) {
    throw new KubefileError(pos, `--checksum=${written} expands to "${value}", not a sha256 digest`, 'give the ARG it names a value of sha256:<64 lowercase hex digits> (a default or --build-arg)');
  }
  return value as Digest;
}

/** A URL's content, downloaded to `path`. */
export interface Download {
  path: string;
  size: number;
  digest: Digest;
}

/** An ADD or APP source that is a URL: with its checksum, or downloaded. */
export interface UrlSource {
  url: string;
  checksum?: Digest;
  download?: Download;
}

/**
 * A URL source. With a checksum, the checksum stands for the content and nothing is
 * downloaded unless the step misses the cache. Without one, the content can change at any
 * time, so it is downloaded (to the path `file()` gives) on every build and its digest goes
 * into the key (what docker's builder does): an unchanged download still hits.
 */
export async function urlSource(url: string, checksum: Digest | undefined, file: () => Promise<string>, pos: SourcePosition): Promise<UrlSource> {
  if (checksum !== undefined) return { url, checksum };
  return { url, download: await downloadUrl(url, await file(), undefined, pos) };
}

/**
 * Downloads a URL to `file` (streamed, hashed on the way). With a checksum, a mismatch fails
 * the build and the file is removed.
 */
export async function downloadUrl(url: string, file: string, checksum: Digest | undefined, pos: SourcePosition): Promise<Download> {
  const shown = redactedUrl(url);
  const { Agent, fetch } = await undici();
  // Its own connections, so they trust NODE_EXTRA_CA_CERTS's CAs, which Node no longer reads at start.
  const secureContext = await secureContextWith({ ca: [] });
  const agent = new Agent({ connect: secureContext ? { secureContext } : {} });
  const hasher = new HashingStream();
  try {
    let response: Awaited<ReturnType<typeof fetch>>;
    try {
      // fetch refuses a URL with user:password; they go as Basic auth, which fetch drops on a redirect to another origin.
      const { target, authorization } = basicAuth(url);
      response = await fetch(target, { redirect: 'follow', headers: authorization === undefined ? {} : { authorization }, dispatcher: agent });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      throw new KubefileError(pos, `ADD ${shown}: download failed: ${cause}`, 'check the URL and your network');
    }
    if (!response.ok || !response.body) {
      throw new KubefileError(pos, `ADD ${shown}: download failed: HTTP ${response.status} ${response.statusText}`, 'check the URL');
    }
    try {
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), hasher, createWriteStream(file, { mode: 0o600 }));
    } catch (err) {
      await rm(file, { force: true });
      throw new KubefileError(pos, `ADD ${shown}: download interrupted: ${(err as Error).message}`, 'try again');
    }
  } finally {
    await agent.close();
  }
  const digest = hasher.digest();
  if (checksum !== undefined && checksum !== digest) {
    await rm(file, { force: true });
    throw new KubefileError(pos, `ADD ${shown}: checksum mismatch: expected ${checksum}, got ${digest}`, 'the file changed upstream or the --checksum is wrong; nothing was stored');
  }
  return { path: file, digest, size: hasher.size };
}

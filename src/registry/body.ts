import type { Readable } from 'node:stream';
import { sha256Digest, type Digest } from '../oci/digest.js';
import { UserError } from '../util/errors.js';

/**
 * The most a response body read into memory may hold. Registries are untrusted: without a cap
 * an endless body is read until the process runs out of memory. Blobs never come through here
 * (they stream to disk, bounded by their declared size); these are the documents and answers
 * that must be parsed whole. Documented in the README ("Limits").
 */
export const BODY_CAPS = {
  /** Far above the spec's 4 MB minimum a registry must accept. */
  manifest: 16 * 1024 * 1024,
  /** Image configs: real ones are a few KiB, with a long history some hundred KiB. */
  config: 8 * 1024 * 1024,
  /** A token service's JSON answer: a JWT or two. */
  token: 1024 * 1024,
  /** An error answer, read only for its message. */
  error: 64 * 1024,
} as const;

/** A whole body that did not arrive in time: retried like a stalled connection. */
export class DeadlineError extends Error {
  readonly code = 'SEALBUILD_DEADLINE';
}

/**
 * Reads a whole body, refusing one longer than `max` bytes (by its Content-Length at once, else
 * when the count passes it) or one that takes longer than `deadlineMs` (a body trickling a byte
 * now and then never trips a stall timeout). The body is destroyed on refusal.
 */
export async function readCapped(body: Readable, options: { max: number; deadlineMs?: number; what: string; contentLength?: string | string[] | undefined }): Promise<Buffer> {
  const { max, what } = options;
  const declared = Number(Array.isArray(options.contentLength) ? options.contentLength[0] : options.contentLength);
  if (Number.isFinite(declared) && declared > max) {
    body.destroy();
    throw tooLarge(what, max);
  }
  const { deadlineMs } = options;
  const timer = deadlineMs === undefined ? undefined : setTimeout(() => body.destroy(new DeadlineError(`the answer took longer than ${deadlineMs / 1000} s`)), deadlineMs);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > max) {
        body.destroy();
        throw tooLarge(what, max);
      }
      chunks.push(chunk);
    }
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks, total);
}

/** Reads and drops a body the caller has no use for (a redirect's, a 401's), within the same bounds. */
export async function discard(body: Readable, deadlineMs: number): Promise<void> {
  await readCapped(body, { max: BODY_CAPS.error, deadlineMs, what: 'response' }).catch(() => body.destroy());
}

function tooLarge(what: string, max: number): UserError {
  return new UserError(`${what}: the registry sent more than ${max} bytes`, { hint: 'the registry is misbehaving or hostile; nothing was stored' });
}

/**
 * A small blob (an image config) read whole into memory from any source: refused before a
 * byte is fetched when its declared size passes `max`, and checked against its digest.
 */
export async function readSmallBlob(source: { openBlob(digest: Digest, size: number): Readable }, blob: { digest: Digest; size: number }, max: number, what: string): Promise<Buffer> {
  if (blob.size > max) throw new UserError(`${what}: declared as ${blob.size} bytes, more than the ${max} bytes sealbuild reads into memory`, { hint: 'the image is malformed or hostile; nothing was stored' });
  const bytes = await readCapped(source.openBlob(blob.digest, blob.size), { max, what });
  const digest = sha256Digest(bytes);
  if (bytes.length !== blob.size || digest !== blob.digest) {
    throw new UserError(`${what}: content does not match its descriptor (got ${digest}, ${bytes.length} bytes)`, { hint: 'the source is corrupt or was tampered with; nothing was stored' });
  }
  return bytes;
}

import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { UserError } from '../util/errors.js';

export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

export function parseDigest(value: string, where: string): Digest {
  if (!isDigest(value)) {
    throw new UserError(`${where}: "${value}" is not a sha256 digest`, { hint: 'expected sha256: followed by 64 lowercase hex characters' });
  }
  return value;
}

export function sha256Digest(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** The first 12 hex characters, as docker prints image IDs. */
export function shortDigest(digest: Digest): string {
  return digestHex(digest).slice(0, 12);
}

/**
 * A pass-through stream that hashes and counts what flows through it; `digest()` and
 * `size` are final once the stream has ended.
 */
export class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }

  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

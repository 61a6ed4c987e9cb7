import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { UserError } from '../util/errors.js';
import { streamHash, type HashPlace, type StreamHash } from '../util/hash-threads.js';

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

/** Files up to this size are read in one call; larger ones in FILE_READ_CHUNK reads. */
const WHOLE_FILE_MAX = 256 * 1024;
const FILE_READ_CHUNK = 1024 * 1024;

/**
 * sha256 of a file's content; `size` (the caller's lstat size) only chooses how it is read.
 * Big reads, not the stream default of 64 KiB: a rehash of the 1 GiB bench context took
 * 4.3-4.5 CPU-seconds this way against 5.1-6.2 with 64 KiB reads. Hashing on a hash thread
 * instead cost more CPU than it saved (5.6-6.7 s): the copy to the thread is not free.
 */
export async function fileDigest(path: string, size: number): Promise<Digest> {
  const hash = createHash('sha256');
  if (size <= WHOLE_FILE_MAX) return `sha256:${hash.update(await readFile(path)).digest('hex')}`;
  for await (const chunk of createReadStream(path, { highWaterMark: FILE_READ_CHUNK })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
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
 * `size` are final once the stream has ended. By default the hashing runs on a hash thread
 * (util/hash-threads.ts), so the main thread keeps moving bytes meanwhile, and a chunk waits
 * only when the thread is several stages behind; `'here'` hashes each chunk as it passes
 * (no copy, no messages: less CPU in all, more on this thread).
 */
export class HashingStream extends Transform {
  private readonly hash: StreamHash;
  private result: Digest | undefined;
  size = 0;

  constructor(place: HashPlace = 'thread') {
    super();
    this.hash = streamHash(place);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    const wait = this.hash.update(chunk);
    if (wait === undefined) done(null, chunk);
    else wait.then(() => done(null, chunk), done);
  }

  override _flush(done: TransformCallback): void {
    this.hash.digest().then((digest) => {
      this.result = digest;
      done();
    }, done);
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    if (this.result === undefined) this.hash.abandon();
    done(err);
  }

  digest(): Digest {
    if (this.result === undefined) throw new Error('HashingStream.digest() before the stream ended');
    return this.result;
  }
}

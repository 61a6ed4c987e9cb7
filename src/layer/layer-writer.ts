import { createHash, randomUUID } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { layerHashPlace } from '../util/hash-threads.js';
import { HashingStream, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import type { LayerSink } from './sink.js';
import { blobLayer, type Layer } from './image-model.js';
import { findByTarKey, findCompressed, recordByTarKey, recordCompressed, type CompressedKind } from './known-layers.js';
import { parallelGzip } from './gzip-parallel.js';
import { tarKey, withDigests, writeTar, type DigestSink, type LayerEntry } from './tar-writer.js';
import { teeInspect } from './tee.js';
import { zstdToFile } from './zstd.js';

export type LayerCompression = CompressedKind | 'none';

export const LAYER_COMPRESSIONS: readonly LayerCompression[] = ['gzip', 'zstd', 'none'];

export interface WrittenLayer extends Layer {
  /** True when a layer made earlier of the same tar was reused instead of writing it again. */
  reused: boolean;
}

export interface LayerOptions<T> {
  mtime: Date;
  compression: LayerCompression;
  /**
   * Reads a copy of the uncompressed tar while it is written; what it returns comes back as
   * `inspected`. With `learn`, `fileDigest` gives the content digest of a file of the tar (by
   * its path in the tar) once the writer has learnt it, so the inspector need not hash it again.
   */
  inspect?: (tar: Readable, fileDigest: FileDigestOf) => Promise<T>;
  /**
   * For files whose digests the caller does not know and wants: each is hashed as it goes into
   * the tar and its digest put here, by source. The layer is not looked up by diff_id first
   * (that would read every file once more).
   */
  learn?: Map<string, Digest>;
  /** Told the bytes of tar written, as they are (the live progress view). */
  progress?: (bytes: number) => void;
}

/** A file's content digest by its path in the tar; undefined when the writer does not learn it. */
export type FileDigestOf = (path: string) => Promise<Digest> | undefined;

/**
 * The digests the tar writer learns of the entries' files (`sink`, passed on to `learn`), by
 * path: the inspector's sha256 of a file is that digest, of the very bytes in the tar, and it
 * waits for it instead of hashing the file a second time. A digest an entry brought along
 * (LayerEntry.digest) is not used: it was taken before, of a file that may have changed since.
 */
function learntDigests(entries: readonly LayerEntry[], learn: Map<string, Digest> | undefined): { of: FileDigestOf; sink?: DigestSink } {
  if (learn === undefined) return { of: () => undefined };
  const sources = new Map<string, string>();
  for (const e of entries) if (e.type === 'file' && e.content === undefined && e.size !== 0 && e.source !== undefined) sources.set(e.path, e.source);
  const learnt = new Map<string, { digest: Promise<Digest>; resolve: (digest: Digest) => void }>();
  const waiting = (source: string) => {
    let entry = learnt.get(source);
    if (entry === undefined) {
      let resolve!: (digest: Digest) => void;
      const digest = new Promise<Digest>((r) => (resolve = r));
      learnt.set(source, (entry = { digest, resolve }));
    }
    return entry;
  };
  return {
    of: (path) => {
      const source = sources.get(path);
      return source === undefined ? undefined : waiting(source).digest;
    },
    sink: {
      set: (source, digest) => {
        learn.set(source, digest);
        waiting(source).resolve(digest);
      },
    },
  };
}

/** Compress a layer's tar into a blob of the batch. */
const COMPRESSORS: Record<CompressedKind, (tar: Readable, batch: LayerSink) => Promise<Descriptor>> = {
  // Not object mode: the stream then buffers bytes, not 16 whole members, ahead of the file.
  gzip: (tar, batch) => batch.writeStream(Readable.from(parallelGzip(tar), { objectMode: false }), MediaType.ociLayerGzip),
  zstd: writeZstdBlob,
};

/**
 * The zstd tool writes the blob straight into a file of the batch (zstd.ts), which then joins
 * the batch under its digest; on failure the file goes and `tar` is stopped.
 */
async function writeZstdBlob(tar: Readable, batch: LayerSink): Promise<Descriptor> {
  const file = join(batch.dir, `zstd-${randomUUID()}`);
  try {
    const out = await open(file, 'wx+', 0o644);
    try {
      const blob = await zstdToFile(tar, out);
      // Not fsynced, as the batch's other blobs are not (store.ts BlobBatch.commit).
      await out.close();
      await batch.adopt(file, blob.digest, blob.size);
      return { mediaType: MediaType.ociLayerZstd, ...blob };
    } finally {
      await out.close().catch(() => {});
    }
  } catch (err) {
    tar.destroy();
    await rm(file, { force: true });
    throw err;
  }
}

/**
 * Writes `entries` as a layer blob into the batch, never making the same layer twice:
 * - when every file's digest is known (LayerEntry.digest), the entries name the tar (tarKey)
 *   and a layer recorded for that key is reused without reading a file;
 * - otherwise (unless the digests are being learnt) a compressed layer's tar is hashed first (cheap next to compressing, and the
 *   files are then in the page cache for the second read) and a blob recorded for that
 *   diff_id is reused.
 * A new layer is written in one pass, tar -> diff_id hasher -> compressor -> batch (and a copy
 * to `inspect`), never held in memory or on disk uncompressed; the diff_id recorded is the one
 * of that pass, so it always matches the blob.
 */
export async function writeLayer<T = never>(entries: readonly LayerEntry[], options: LayerOptions<T>, batch: LayerSink): Promise<WrittenLayer & { inspected?: T }> {
  const kind = options.compression;
  const key = tarKey(entries, options.mtime);
  if (key !== undefined) {
    const known = await findByTarKey(batch, kind, key);
    if (known !== undefined) return { ...written(known.descriptor, known.diffId, batch), reused: true };
  } else if (kind !== 'none' && options.learn === undefined) {
    const prehashed = await hashTar(entries, options.mtime);
    const known = await findCompressed(batch, kind, prehashed);
    if (known !== undefined) return { ...written(known, prehashed, batch), reused: true };
  }
  // The tar, then the copy to `inspect`, then (compressed kinds) the diff_id hasher: an
  // uncompressed blob's own digest is its diff_id.
  const digests = learntDigests(entries, options.learn);
  const inspect = options.inspect;
  const tee = inspect && teeInspect((tar) => inspect(tar, digests.of));
  const diffHasher = kind === 'none' ? undefined : new HashingStream(layerHashPlace());
  const chain: Readable[] = [writeTar(entries, options.mtime, digests.sink), ...(options.progress ? [counter(options.progress)] : []), ...(tee ? [tee.stream] : []), ...(diffHasher ? [diffHasher] : [])];
  const tarOut = chain.at(-1)!;
  const tarDone = chain.length > 1 ? pipeline(chain) : Promise.resolve();
  const blobDone = kind === 'none' ? batch.writeStream(tarOut, MediaType.ociLayer) : COMPRESSORS[kind](tarOut, batch);
  // All settle before returning. A failure on one side reaches the others as an error too;
  // the blob side's is the one that names the cause (a premature close on the tar side just
  // means the writer stopped reading), and a tar error reaches the blob side unchanged.
  const [blob, tar, inspected] = await Promise.allSettled([blobDone, tarDone, tee?.result]);
  for (const outcome of [blob, tar, inspected]) if (outcome.status === 'rejected') throw outcome.reason;
  const descriptor = (blob as PromiseFulfilledResult<Descriptor>).value;
  const diffId = diffHasher ? diffHasher.digest() : descriptor.digest;
  if (kind !== 'none') await recordCompressed(batch, kind, diffId, descriptor);
  const learntKey = key ?? (options.learn && tarKey(withDigests(entries, options.learn), options.mtime));
  if (learntKey !== undefined) await recordByTarKey(batch, kind, learntKey, { descriptor, diffId });
  return { ...written(descriptor, diffId, batch), reused: false, ...(tee ? { inspected: (inspected as PromiseFulfilledResult<T>).value } : {}) };
}

/** A layer of the build's batch (made now or found made before). */
function written(descriptor: Descriptor, diffId: Digest, batch: LayerSink): Layer {
  return blobLayer(descriptor, diffId, (d) => batch.pathOf(d), 'a layer of this build');
}

async function hashTar(entries: readonly LayerEntry[], mtime: Date): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of writeTar(entries, mtime) as AsyncIterable<Buffer>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

export function isLayerCompression(value: string): value is LayerCompression {
  return (LAYER_COMPRESSIONS as readonly string[]).includes(value);
}

/** Passes bytes through, telling `progress` how many. */
function counter(progress: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      progress(chunk.length);
      done(null, chunk);
    },
  });
}

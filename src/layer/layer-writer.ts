import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import type { BlobBatch } from '../store/store.js';
import { findCompressed, recordCompressed, type CompressedKind } from './compressed-index.js';
import { parallelGzip } from './gzip-parallel.js';
import { writeTar, type LayerEntry } from './tar-writer.js';
import { zstdCompress } from './zstd.js';

export type LayerCompression = CompressedKind | 'none';

export const LAYER_COMPRESSIONS: readonly LayerCompression[] = ['gzip', 'zstd', 'none'];

export interface WrittenLayer {
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar: what the config's rootfs.diff_ids lists. */
  diffId: Digest;
  /** True when an earlier compression of the same tar was reused instead of compressing again. */
  reused: boolean;
}

const COMPRESSORS: Record<CompressedKind, { mediaType: string; compress: (tar: Readable) => Readable }> = {
  // Not object mode: the stream then buffers bytes, not 16 whole members, ahead of the file.
  gzip: { mediaType: MediaType.ociLayerGzip, compress: (tar) => Readable.from(parallelGzip(tar), { objectMode: false }) },
  zstd: { mediaType: MediaType.ociLayerZstd, compress: (tar) => zstdCompress(tar) },
};

/**
 * Writes `entries` as a layer blob into the batch. A compressed layer is never compressed
 * twice: the tar is hashed first (cheap next to compressing, and the files are then in the
 * page cache for the second read), and if that diff_id already has a blob of this kind, its
 * descriptor is reused. Otherwise the tar is produced again and streamed through the diff_id
 * hasher and the compressor into the batch in one pass, never held in memory or on disk
 * uncompressed; the diff_id recorded is the one of that pass, so it always matches the blob.
 */
export async function writeLayer(entries: readonly LayerEntry[], options: { mtime: Date; compression: LayerCompression }, batch: BlobBatch): Promise<WrittenLayer> {
  const kind = options.compression;
  if (kind === 'none') {
    const descriptor = await batch.writeStream(writeTar(entries, options.mtime), MediaType.ociLayer);
    return { descriptor, diffId: descriptor.digest, reused: false };
  }
  const prehashed = await hashTar(entries, options.mtime);
  const known = await findCompressed(batch, kind, prehashed);
  if (known !== undefined) return { descriptor: known, diffId: prehashed, reused: true };
  const diffHasher = new HashingStream();
  const { mediaType, compress } = COMPRESSORS[kind];
  const tarDone = pipeline(writeTar(entries, options.mtime), diffHasher);
  const blobDone = batch.writeStream(compress(diffHasher), mediaType);
  // Both settle before returning. A failure on either side reaches the other as an error too;
  // the blob side's is the one that names the cause (a premature close on the tar side just
  // means the writer stopped reading), and a tar error reaches the blob side unchanged.
  const [tar, blob] = await Promise.allSettled([tarDone, blobDone]);
  if (blob.status === 'rejected') throw blob.reason;
  if (tar.status === 'rejected') throw tar.reason;
  const diffId = diffHasher.digest();
  await recordCompressed(batch, kind, diffId, blob.value);
  return { descriptor: blob.value, diffId, reused: false };
}

async function hashTar(entries: readonly LayerEntry[], mtime: Date): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of writeTar(entries, mtime) as AsyncIterable<Buffer>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

export function isLayerCompression(value: string): value is LayerCompression {
  return (LAYER_COMPRESSIONS as readonly string[]).includes(value);
}

import { createGzip } from 'node:zlib';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import type { BlobBatch } from '../store/store.js';
import { writeTar, type LayerEntry } from './tar-writer.js';

export type LayerCompression = 'gzip' | 'none';

export interface WrittenLayer {
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar: what the config's rootfs.diff_ids lists. */
  diffId: Digest;
}

/**
 * Streams entries as a tar through a diff_id hasher and the compressor into the batch, in
 * one pass: the layer is never held in memory or written twice. gzip output has a zero
 * header mtime (zlib's default), so it is deterministic.
 */
export async function writeLayer(entries: readonly LayerEntry[], options: { mtime: Date; compression: LayerCompression }, batch: BlobBatch): Promise<WrittenLayer> {
  const diffHasher = new HashingStream();
  const compressor = options.compression === 'gzip' ? createGzip() : new PassThrough();
  const mediaType = options.compression === 'gzip' ? MediaType.ociLayerGzip : MediaType.ociLayer;
  const [, descriptor] = await Promise.all([
    pipeline(writeTar(entries, options.mtime), diffHasher, compressor),
    batch.writeStream(compressor, mediaType),
  ]);
  return { descriptor, diffId: diffHasher.digest() };
}

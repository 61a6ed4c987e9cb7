import { createReadStream } from 'node:fs';
import type { Descriptor } from '../oci/schemas.js';
import type { BlobBatch, Store } from '../store/store.js';
import type { BlobSink, BlobSource, Shortcut } from './copy.js';

/** The store as a source: its blobs, read from their files. */
export function storeSource(store: Store): BlobSource {
  return {
    openBlob: (digest) => createReadStream(store.blobPath(digest)),
    blobFile: (digest) => store.blobPath(digest),
  };
}

/**
 * The store as a sink: blobs stream into `batch`, checked against their digest and size, and
 * reach the store when the batch commits. A blob the store holds is not fetched. Layers are
 * not decompressed here: their diff_ids are checked where they are first read
 * (layer-reader.ts). `quiet`: a blob the store holds needs no progress line (the remote build
 * cache's layers).
 */
export class StoreSink implements BlobSink {
  readonly sentState = 'done';

  constructor(
    private readonly batch: BlobBatch,
    private readonly options: { quiet?: boolean } = {},
  ) {}

  says(): string {
    return 'already in the store';
  }

  async shortcut(blob: Descriptor): Promise<Shortcut | 'held' | undefined> {
    if (this.batch.has(blob.digest)) return 'held';
    if (!(await this.batch.store.hasBlob(blob.digest, blob.size))) return undefined;
    return this.options.quiet ? 'held' : 'exists';
  }

  async receive(blob: Descriptor, source: BlobSource, onBytes: (n: number) => void): Promise<void> {
    await this.batch.writeStream(source.openBlob(blob.digest, blob.size, onBytes), blob.mediaType, { expected: { digest: blob.digest, size: blob.size }, hash: 'here' });
  }
}

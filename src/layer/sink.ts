import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/schemas.js';

/**
 * Where layers go: the store's open batch (store/store.ts BlobBatch), seen only through what
 * layer/ needs of it, so that layer/ does not depend on the store (the store depends on layer/).
 */
export interface LayerSink {
  /** The batch's own directory: records are staged here until the batch commits. */
  readonly dir: string;
  /** The store the batch commits into (its root holds the records once committed). */
  readonly store: { readonly root: string };
  /** Where a blob of the batch or of the store can be read. */
  pathOf(digest: Digest): string;
  /** Whether the batch or the store holds the blob, whole. */
  hasBlob(digest: Digest, size: number): Promise<boolean>;
  /** Runs `action` once the batch's blobs are in the store. */
  onCommit(action: () => Promise<void>): void;
  /** Takes a complete file of `size` bytes already in `dir` into the batch as the blob `digest` (renamed, not copied). */
  adopt(file: string, digest: Digest, size: number): Promise<void>;
  /** Streams a blob into the batch, hashing it. */
  writeStream(source: Readable, mediaType: string): Promise<Descriptor>;
}

import type { Readable } from 'node:stream';
import { shortDigest, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/schemas.js';
import { mapLimit } from '../util/limit.js';
import type { Reporter } from '../util/reporter.js';

/**
 * Where a blob's bytes are read: a registry repository (registry/client.ts), an image file
 * (airgap/image-files.ts) or the store (store-endpoint.ts).
 */
export interface BlobSource {
  openBlob(digest: Digest, size: number, onBytes?: (n: number) => void): Readable;
  /** The file that holds the blob, when the source keeps it on disk: an upload reads it again to resume. */
  blobFile?(digest: Digest): string;
}

/** How a sink came to hold a blob without its bytes being sent: it had it, or a registry mounted it. */
export type Shortcut = 'exists' | 'mounted';

/** Where blobs go: a store batch (store-endpoint.ts) or a registry repository (registry-endpoint.ts). */
export interface BlobSink {
  /** The progress state of a blob whose bytes were sent ('done', 'uploaded'). */
  readonly sentState: string;
  /**
   * Whether the blob needs no bytes: 'exists' or 'mounted' (reported, under the sink's words
   * for them), 'held' (the sink has it for this very copy: nothing to say), else undefined.
   */
  shortcut(blob: Descriptor): Promise<Shortcut | 'held' | undefined>;
  /** What a shortcut is called in a progress line. */
  says(state: Shortcut): string;
  /** Sends the blob's bytes from `source`, each counted through `onBytes`. */
  receive(blob: Descriptor, source: BlobSource, onBytes: (n: number) => void): Promise<void>;
}

export interface CopyOptions {
  reporter: Reporter;
  /** Blobs moved at once. */
  concurrency: number;
  /** What the progress line calls a transfer ('copying', 'uploading', 'fetching cached'). */
  verb: string;
}

/**
 * The one copy between sources and sinks: pull is registry (or image file) -> store, push is
 * store -> registry, and the remote build cache both. Each blob, at most `concurrency` at a
 * time, takes the sink's shortcut when it has one, else its bytes stream from its source
 * into the sink (which checks them as it needs). Returns the bytes sent; the first failure
 * rejects once the blobs in flight have settled.
 */
export async function copyBlobs(blobs: readonly { blob: Descriptor; source: BlobSource }[], sink: BlobSink, options: CopyOptions): Promise<{ sentBytes: number }> {
  let sentBytes = 0;
  await mapLimit(blobs, options.concurrency, async ({ blob, source }) => {
    const shortcut = await sink.shortcut(blob);
    if (shortcut === 'held') return;
    if (shortcut !== undefined) {
      options.reporter.info(`  blob ${shortDigest(blob.digest)} ${sink.says(shortcut)}`, { event: 'blob', digest: blob.digest, size: blob.size, state: shortcut });
      return;
    }
    const transfer = options.reporter.transfer(blob.digest, blob.size, options.verb);
    await sink.receive(blob, source, transfer.add);
    sentBytes += blob.size;
    transfer.end(sink.sentState);
  });
  return { sentBytes };
}

import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { checkLayer } from '../layer/layer-reader.js';
import { teeInspect } from '../layer/tee.js';
import type { Digest } from '../oci/digest.js';
import { layerCompression } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import type { BlobBatch, Store } from '../store/store.js';
import type { BlobSink, BlobSource, Shortcut } from './copy.js';

/** What a layer's tar must hash to, by the config that lists it (`owner` names that image in errors). */
export interface DiffIdClaim {
  diffId: Digest;
  owner: string;
}

/** The store as a source: its blobs, read from their files. */
export function storeSource(store: Store): BlobSource {
  return {
    openBlob: (digest) => createReadStream(store.blobPath(digest)),
    blobFile: (digest) => store.blobPath(digest),
  };
}

/**
 * The store as a sink: blobs stream into `batch`, checked against their digest (and a layer
 * against the diff_id its config claims, as it arrives), and reach the store when the batch
 * commits. A blob the store holds is not fetched; with a claim it is read back and checked,
 * since another image may have stored it under another diff_id. `quiet`: a blob the store
 * holds needs no progress line (the remote build cache's layers).
 */
export class StoreSink implements BlobSink {
  readonly sentState = 'done';

  constructor(
    private readonly batch: BlobBatch,
    private readonly options: { claims?: ReadonlyMap<Digest, DiffIdClaim>; quiet?: boolean } = {},
  ) {}

  says(): string {
    return 'already in the store';
  }

  async shortcut(blob: Descriptor): Promise<Shortcut | 'held' | undefined> {
    if (this.batch.has(blob.digest)) return 'held';
    if (!(await this.batch.store.hasBlob(blob.digest))) return undefined;
    await this.check(blob)?.(createReadStream(this.batch.pathOf(blob.digest)));
    return this.options.quiet ? 'held' : 'exists';
  }

  async receive(blob: Descriptor, source: BlobSource, onBytes: (n: number) => void): Promise<void> {
    const expected = { digest: blob.digest, size: blob.size };
    const download = source.openBlob(blob.digest, blob.size, onBytes);
    const check = this.check(blob);
    if (check === undefined) {
      await this.batch.writeStream(download, blob.mediaType, expected);
      return;
    }
    // The layer is decompressed and hashed as it arrives, next to being written.
    const { stream, result } = teeInspect(check);
    pipeline(download, stream, () => {});
    // Both settle before the batch may be aborted: the write must not go on into a removed dir.
    const [written, checked] = await Promise.allSettled([this.batch.writeStream(stream, blob.mediaType, expected), result]);
    // A download that failed cut the check short: its error is the cause, not "damaged".
    if (written.status === 'rejected') throw written.reason;
    if (checked.status === 'rejected') throw checked.reason;
  }

  private check(blob: Descriptor): ((source: Readable) => Promise<unknown>) | undefined {
    const claim = this.options.claims?.get(blob.digest);
    return claim && ((source: Readable) => checkLayer(source, { digest: blob.digest, ...claim }, layerCompression(blob.mediaType)));
  }
}

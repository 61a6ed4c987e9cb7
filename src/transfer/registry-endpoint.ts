import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/schemas.js';
import type { RepositoryClient } from '../registry/client.js';
import type { BlobSink, BlobSource, Shortcut } from './copy.js';

/**
 * A registry repository as a sink. A blob it has is skipped after a HEAD; one that another
 * repository of the same registry has (`mountFrom(blob)`, most likely first) is mounted;
 * the rest are uploaded from the source's file, in chunks that resume. A mount the registry
 * refuses with a started upload (202) is used for that upload.
 */
export class RegistrySink implements BlobSink {
  readonly sentState = 'uploaded';
  /** Uploads a refused mount started, by blob: receive continues them. */
  private readonly started = new Map<Digest, string>();

  constructor(
    private readonly repo: RepositoryClient,
    private readonly mountFrom: (blob: Descriptor) => Promise<string[]> | string[],
  ) {}

  says(state: Shortcut): string {
    return state;
  }

  async shortcut(blob: Descriptor): Promise<Shortcut | undefined> {
    if (await this.repo.hasBlob(blob.digest)) return 'exists';
    for (const from of await this.mountFrom(blob)) {
      const mounted = await this.repo.mountBlob(blob.digest, from);
      if (mounted === true) return 'mounted';
      if (typeof mounted === 'string') {
        this.started.set(blob.digest, mounted);
        break;
      }
    }
    return undefined;
  }

  async receive(blob: Descriptor, source: BlobSource, onBytes: (n: number) => void): Promise<void> {
    if (source.blobFile === undefined) throw new Error(`blob ${blob.digest}: a registry upload needs a source on disk`);
    const started = this.started.get(blob.digest);
    this.started.delete(blob.digest);
    await this.repo.uploadBlob(source.blobFile(blob.digest), blob.digest, blob.size, started, onBytes);
  }
}

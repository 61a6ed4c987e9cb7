import { BlobSourcesRecordSchema } from '../cache/blob-records.js';
import { Records } from '../cache/records.js';
import { digestHex, type Digest } from '../oci/digest.js';
import type { Store } from './store.js';

/** Repositories remembered per blob: enough for every registry a blob travels to in practice. */
const MAX_SOURCES = 8;

/**
 * Where the store's blobs are known to be in registries: the repositories (`registry/path`)
 * they were pulled from or pushed to. `push` mounts a blob from one of these on the
 * destination's registry instead of uploading it (the distribution spec's cross-repository
 * mount), whatever the image is called here. One cache record per blob,
 * `ROOT/cache/blob-sources/HEX.json`, newest first. Only a hint: a repository that lost the
 * blob costs one mount the registry refuses, and prune drops the records of blobs it removes.
 */
export class BlobSources {
  private readonly records: Records<{ repositories: string[] }>;

  constructor(store: Store) {
    this.records = new Records(store.root, 'blob-sources', BlobSourcesRecordSchema);
  }

  /** The repositories on `domain` known to hold `digest`, newest first, as paths. */
  async on(digest: Digest, domain: string): Promise<string[]> {
    const prefix = `${domain}/`;
    return (await this.read(digest)).filter((r) => r.startsWith(prefix)).map((r) => r.slice(prefix.length));
  }

  /** Remembers that `domain/path` holds every one of `digests`. */
  async add(digests: Iterable<Digest>, domain: string, path: string): Promise<void> {
    const repository = `${domain}/${path}`;
    for (const digest of new Set(digests)) {
      const known = await this.read(digest);
      if (known[0] === repository) continue;
      const repositories = [repository, ...known.filter((r) => r !== repository)].slice(0, MAX_SOURCES);
      await this.records.write(digestHex(digest), { repositories });
    }
  }

  private async read(digest: Digest): Promise<string[]> {
    // A damaged record is as good as none: it only ever saves an upload.
    return (await this.records.read(digestHex(digest)))?.repositories ?? [];
  }
}

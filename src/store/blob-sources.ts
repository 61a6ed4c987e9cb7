import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { digestHex, type Digest } from '../oci/digest.js';
import { checkedJson } from '../oci/schemas.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import type { Store } from './store.js';

/** Repositories remembered per blob: enough for every registry a blob travels to in practice. */
const MAX_SOURCES = 8;

const SourcesSchema = z.object({ repositories: z.array(z.string()) });

/**
 * Where the store's blobs are known to be in registries: the repositories (`registry/path`)
 * they were pulled from or pushed to. `push` mounts a blob from one of these on the
 * destination's registry instead of uploading it (the distribution spec's cross-repository
 * mount), whatever the image is called here. One small file per blob,
 * `ROOT/blob-sources/HEX`, newest first. Only a hint: a repository that lost the blob costs
 * one mount the registry refuses, and prune drops the records of blobs it removes.
 */
export class BlobSources {
  private readonly dir: string;

  constructor(store: Store) {
    this.dir = join(store.root, 'blob-sources');
  }

  /** The repositories on `domain` known to hold `digest`, newest first, as paths. */
  async on(digest: Digest, domain: string): Promise<string[]> {
    const prefix = `${domain}/`;
    return (await this.read(digest)).filter((r) => r.startsWith(prefix)).map((r) => r.slice(prefix.length));
  }

  /** Remembers that `domain/path` holds every one of `digests`. */
  async add(digests: Iterable<Digest>, domain: string, path: string): Promise<void> {
    const repository = `${domain}/${path}`;
    await mkdir(this.dir, { recursive: true });
    for (const digest of new Set(digests)) {
      const known = await this.read(digest);
      if (known[0] === repository) continue;
      const repositories = [repository, ...known.filter((r) => r !== repository)].slice(0, MAX_SOURCES);
      await writeFileAtomic(join(this.dir, digestHex(digest)), `${JSON.stringify({ repositories })}\n`);
    }
  }

  /** Drops the records of blobs the store no longer has (prune). */
  async removeDangling(hasBlob: (digest: Digest) => Promise<boolean>): Promise<void> {
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!/^[a-f0-9]{64}$/.test(name) || !(await hasBlob(`sha256:${name}`))) await rm(join(this.dir, name), { force: true });
    }
  }

  private async read(digest: Digest): Promise<string[]> {
    const text = await readFile(join(this.dir, digestHex(digest)), 'utf8').catch(() => undefined);
    if (text === undefined) return [];
    // A damaged record is as good as none: it only ever saves an upload.
    return checkedJson(SourcesSchema, text)?.repositories ?? [];
  }
}

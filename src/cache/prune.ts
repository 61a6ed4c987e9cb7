import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type Digest } from '../oci/digest.js';
import { BLOB_RECORDS } from './blob-records.js';
import { Records, cacheRoot } from './records.js';

/** Where sealbuild kept the blob records before they moved into ROOT/cache: no longer read. */
const OLD_LOCATIONS = ['compressed', 'layer-keys', 'blob-sources'];

/**
 * Prunes every cache of the store at `root` (`sealbuild prune`, under the index lock): the
 * build cache (layer cache, step markers, stat caches, build records, layer facts, and anything an older
 * sealbuild left in ROOT/cache) is removed whole; the blob records keep the records whose
 * blob `hasBlob` still finds. Returns how many layer cache entries were removed.
 */
export async function pruneCache(root: string, hasBlob: (digest: Digest) => Promise<boolean>): Promise<number> {
  const dir = cacheRoot(root);
  const layerEntries = (await new Records(root, 'layers', NO_CHECK).keys()).length;
  const kept = new Set<string>(BLOB_RECORDS.map((i) => i.keyspace));
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!kept.has(name)) await rm(join(dir, name), { recursive: true, force: true });
  }
  for (const { keyspace, schema, blobOf } of BLOB_RECORDS) {
    const records = new Records(root, keyspace, schema);
    for (const key of await records.keys()) {
      const record = await records.read(key);
      const blob = record === undefined ? undefined : blobOf(key, record);
      if (blob === undefined || !isDigest(blob) || !(await hasBlob(blob))) await records.remove(key);
    }
  }
  for (const old of OLD_LOCATIONS) await rm(join(root, old), { recursive: true, force: true });
  return layerEntries;
}

const NO_CHECK = (): undefined => undefined;

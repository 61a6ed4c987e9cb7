import { access, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { checkedJson } from '../oci/schemas.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

/**
 * Every cache of a store lives in one folder, `ROOT/cache/`, one keyspace (a folder) each:
 * - `layers`: a build step's cache key -> the layer it made (builder/cache.ts LayerCache);
 * - `steps`: the steps built once, so a step never built hashes no files (LayerCache);
 * - `stat`: per build-context directory, file identities -> digests (builder/cache.ts StatCache);
 * - `builds`: a whole build's request -> its inputs as seen and its result (builder/build-record.ts);
 * - `layer-facts`: per layer, what it holds (runtime/layer-view.ts LayerFactsMemo);
 * - `compressed`, `layer-keys`: the known-layer records (layer/known-layers.ts);
 * - `blob-sources`: the registry repositories a blob is known in (store/blob-sources.ts).
 * The last three name a blob in each record and outlive `prune` while their blob does; prune
 * removes the others whole (cache/prune.ts).
 */
export type Keyspace = 'layers' | 'steps' | 'stat' | 'builds' | 'layer-facts' | 'compressed' | 'layer-keys' | 'blob-sources';

/** The folder of the store root that holds every cache. */
export function cacheRoot(root: string): string {
  return join(root, 'cache');
}

/** Hex digests, a kind before them (`gzip-HEX`) or two joined (`BLOB-DIFFID`): nothing that could leave the folder. */
const KEY = /^[a-z0-9][a-z0-9-]*$/;

/**
 * How a record is checked as it is read: a zod schema, or a check written by hand where a
 * schema costs too much (the stat cache: a record per context file, read on every build).
 */
export type RecordCheck<T> = z.ZodType<T> | ((json: unknown) => T | undefined);

/**
 * One keyspace of the cache: small JSON records, one file `<key>.json` each, under `root`'s
 * cache folder (`root` is the store root, or a batch's directory where records wait for the
 * batch to commit). Writes are atomic (temp file and rename), so a reader sees a whole record
 * or none; a record that is damaged or of the wrong shape reads as a miss, never an error.
 */
export class Records<T> {
  readonly dir: string;

  constructor(
    root: string,
    keyspace: Keyspace,
    private readonly check: RecordCheck<T>,
  ) {
    this.dir = join(cacheRoot(root), keyspace);
  }

  /** The record under `key`, or undefined when there is none or it is damaged. */
  async read(key: string): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(this.path(key), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const check = this.check;
    return check instanceof z.ZodType ? checkedJson(check, text) : check(checkedJson(ANY_JSON, text));
  }

  /** Whether a record is under `key`, without reading it (markers). */
  has(key: string): Promise<boolean> {
    return access(this.path(key)).then(() => true, () => false);
  }

  async write(key: string, value: T): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // A record is a cache: atomic for a killed process, not fsynced (a damaged one is a miss).
    await writeFileAtomic(this.path(key), JSON.stringify(value), 0o644, { durable: false });
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  /** The keys of every record (not of temp files a killed writer left). */
  async keys(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.json') && KEY.test(n.slice(0, -'.json'.length))).map((n) => n.slice(0, -'.json'.length));
  }

  private path(key: string): string {
    if (!KEY.test(key)) throw new Error(`not a cache key: ${JSON.stringify(key)}`);
    return join(this.dir, `${key}.json`);
  }
}

const ANY_JSON = z.unknown();

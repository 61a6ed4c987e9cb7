import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { sep } from 'node:path';
import { z } from 'zod';
import { Records } from '../cache/records.js';
import { digestHex, fileDigest, isDigest, type Digest } from '../oci/digest.js';
import { DescriptorSchema } from '../oci/schemas.js';
import { blobLayer, type Layer } from '../layer/image-model.js';
import type { BlobBatch, Store } from '../store/store.js';
import { RACY_MS } from './racy.js';

/** Bump when what goes into a key changes meaning: old entries then simply never match. */
const KEY_VERSION = 1;

/**
 * A cache key: sha256 over a canonical JSON of its parts. Object keys are sorted so that
 * the same parts always give the same key, whatever order the code built them in.
 */
export function cacheKey(parts: Record<string, unknown>): Digest {
  return `sha256:${createHash('sha256').update(canonicalJson({ v: KEY_VERSION, ...parts })).digest('hex')}`;
}

function canonicalJson(value: unknown): string {
  // Arrays of plain values (a step's thousands of input files) are already canonical: the
  // native stringify is many times faster than walking them here.
  if (Array.isArray(value) && value.every(isFlat)) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  // undefined as JSON.stringify writes it inside arrays.
  return JSON.stringify(value) ?? 'null';
}

/** A primitive, or an array of primitives. */
function isFlat(value: unknown): boolean {
  return isPrimitive(value) || (Array.isArray(value) && value.every(isPrimitive));
}

function isPrimitive(value: unknown): boolean {
  return value === null || typeof value !== 'object';
}

const EntrySchema = z.object({ layer: DescriptorSchema, diffId: z.string().refine(isDigest) });
/** A step built once: the record is the marker, its content says nothing. */
const StepSchema = z.object({});

/** Where a key the local cache misses may still be found: a registry cache (remote-cache.ts). */
export interface RemoteLayers {
  /** The layer for `key` with its blob in `batch` or the store, or undefined. */
  fetch(key: Digest, batch: BlobBatch): Promise<Layer | undefined>;
}

/**
 * The layer cache: cache key -> the layer a step produced, one record per key in the store's
 * cache (`ROOT/cache/layers/<key hex>.json`, cache/records.ts). Entries of a build are held in
 * memory and reach the disk only when its batch commits, so a failed build records nothing
 * and an entry never points at a blob that was not stored. An entry counts only while its
 * blob is in the store: a pruned blob turns its entry into a miss. A local miss asks
 * `remote`, if given; its hits are recorded here too, so the next build finds them locally.
 */
export class LayerCache {
  private readonly staged = new Map<Digest, Layer>();
  private readonly stagedSteps = new Set<Digest>();
  /** Steps whose marker knowsStep found on disk. */
  private readonly markedOnDisk = new Set<Digest>();
  /** Every entry this build hit or recorded: what --cache-to exports. */
  private readonly touched = new Map<Digest, Layer>();
  private readonly entries: Records<z.infer<typeof EntrySchema>>;
  private readonly steps: Records<z.infer<typeof StepSchema>>;

  constructor(
    private readonly store: Store,
    private readonly batch: BlobBatch,
    private readonly remote?: RemoteLayers,
  ) {
    this.entries = new Records(store.root, 'layers', EntrySchema);
    this.steps = new Records(store.root, 'steps', StepSchema);
    batch.onCommit(async () => {
      for (const [k, v] of this.staged) {
        await this.entries.write(digestHex(k), { layer: { mediaType: v.descriptor.mediaType, digest: v.descriptor.digest, size: v.descriptor.size }, diffId: v.diffId });
      }
      for (const step of this.stagedSteps) await this.steps.write(digestHex(step), {});
    });
  }

  async lookup(key: Digest): Promise<Layer | undefined> {
    const local = await this.lookupLocal(key);
    if (local !== undefined) {
      this.touched.set(key, local);
      return local;
    }
    const remote = await this.remote?.fetch(key, this.batch);
    if (remote !== undefined) this.record(key, remote);
    return remote;
  }

  /**
   * Whether hashing a step's files before making its layer can find anything: an entry needs
   * the same step (instruction, sources, destination: `step` is cacheKey({ step })) built
   * before, here or in a remote cache. A step never built is not looked up, so its files are
   * read once, by the layer.
   */
  async knowsStep(step: Digest): Promise<boolean> {
    if (this.stagedSteps.has(step) || this.markedOnDisk.has(step)) return true;
    if (await this.steps.has(digestHex(step))) {
      this.markedOnDisk.add(step);
      return true;
    }
    return this.remote !== undefined;
  }

  /**
   * Notes that `step` was built, from the commit on (see knowsStep). A marker already on disk is
   * not written again: a no-op rebuild would otherwise rewrite (and fsync) one per step.
   */
  markStep(step: Digest): void {
    if (!this.markedOnDisk.has(step)) this.stagedSteps.add(step);
  }

  /** The entries this build hit or recorded, in the order it met them. */
  used(): ReadonlyMap<Digest, Layer> {
    return this.touched;
  }

  private async lookupLocal(key: Digest): Promise<Layer | undefined> {
    const staged = this.staged.get(key);
    if (staged) return staged;
    const entry = await this.entries.read(digestHex(key));
    if (entry === undefined) return undefined;
    const layer = blobLayer(entry.layer, entry.diffId as Digest, (d) => this.batch.pathOf(d), 'the layer cache');
    return (await this.store.hasBlob(layer.descriptor.digest, layer.descriptor.size)) ? layer : undefined;
  }

  /** Records `layer` for `key`: usable by later steps of this build now, on disk from the commit on. */
  record(key: Digest, layer: Layer): void {
    this.staged.set(key, layer);
    this.touched.set(key, layer);
  }
}

/**
 * A context file's size, mtime and ctime (ms, the nanoseconds as fraction), inode and device when
 * it was hashed, and its digest then. Numbers, compared one by one: formatting them into one
 * string per file to compare was a third of the stat cache's CPU time on a no-op rebuild.
 */
type StatRecord = [size: number, mtimeMs: number, ctimeMs: number, ino: number, dev: number, digest: Digest];

/**
 * Content digests of build-context files without reading unchanged files again: a file
 * whose size, mtime, ctime, inode and device are what they were when it was hashed has the
 * digest it had then. ctime is what makes this content-true: a write always sets it to the
 * current time and no system call sets it back, so a file rewritten with the same size and
 * its mtime restored (`touch -r`) is still hashed again (BuildKit's stat cache, which
 * compares mtime and size but not ctime, would miss that). A file whose ctime is within
 * RACY_MS (racy.ts) of the moment it was hashed is not remembered, because a write in the same
 * timestamp tick could still follow unseen (git's "racily clean" rule).
 * One cache record per context directory, `ROOT/cache/stat/<sha256 of its path>.json`, saved
 * when a build commits. Files outside the context (stage filesystems) are hashed, not remembered.
 */
export class StatCache {
  /** By path in the context; each value is a StatRecord once isStatRecord says so. */
  private files = new Map<string, unknown>();
  private dirty = false;

  private constructor(
    private readonly contextRoot: string,
    private readonly records: Records<StatFile>,
    private readonly key: string,
  ) {}

  static async load(store: Store, contextRoot: string): Promise<StatCache> {
    const cache = new StatCache(contextRoot, new Records(store.root, 'stat', checkStatFile), createHash('sha256').update(contextRoot).digest('hex'));
    // Each file's record is checked when it is looked up (known()), not here: a no-op rebuild
    // looks up every one once, and checking them all first was most of the time this load took.
    cache.files = new Map(Object.entries((await cache.records.read(cache.key))?.files ?? {}));
    return cache;
  }

  /**
   * The digest remembered for a context file that has not changed since, or undefined.
   * Synchronous: on a no-op rebuild this runs once per context file and is all there is to do.
   */
  known(abs: string, s: Stats): Digest | undefined {
    const rel = this.relative(abs);
    const known = rel === undefined ? undefined : this.files.get(rel);
    return isStatRecord(known) && known[0] === s.size && known[1] === s.mtimeMs && known[2] === s.ctimeMs && known[3] === s.ino && known[4] === s.dev ? known[5] : undefined;
  }

  /** sha256 of the file's content, remembered for next time; `stats` is its lstat when the caller has it already. */
  async digest(abs: string, stats?: Stats): Promise<Digest> {
    const s = stats ?? (await lstat(abs));
    const known = this.known(abs, s);
    if (known !== undefined) return known;
    const started = Date.now();
    const digest = await fileDigest(abs, s.size);
    this.remember(abs, s, digest, started);
    return digest;
  }

  /** Remembers a context file's digest, read from `started` on, for the file as `s` describes it (unless racy). */
  remember(abs: string, s: Stats, digest: Digest, started: number): void {
    const rel = this.relative(abs);
    if (rel === undefined || started - s.ctimeMs <= RACY_MS) return;
    const record: StatRecord = [s.size, s.mtimeMs, s.ctimeMs, s.ino, s.dev, digest];
    this.files.set(rel, record);
    this.dirty = true;
  }

  private relative(abs: string): string | undefined {
    return abs.startsWith(this.contextRoot + sep) ? abs.slice(this.contextRoot.length + 1) : undefined;
  }

  /** Saves what was learnt when `batch` commits (a failed build writes nothing). */
  saveOnCommit(batch: BlobBatch): void {
    batch.onCommit(async () => {
      if (this.dirty) await this.records.write(this.key, { version: STAT_VERSION, files: Object.fromEntries([...this.files].filter(([, record]) => isStatRecord(record))) });
    });
  }
}

/** 3: a file's identity as numbers (2 had it as one "size:mtime:ctime:inode:device" string). */
const STAT_VERSION = 3;

/** A stat cache record as read: its version checked, its file records still to be checked one by one. */
interface StatFile {
  version: number;
  files: Record<string, unknown>;
}

/**
 * Checked by hand, not with zod: this record has an entry per context file and is read on
 * every build, where a schema library costs more than the rest of a no-op rebuild.
 */
function checkStatFile(json: unknown): StatFile | undefined {
  const data = json as { version?: unknown; files?: unknown } | null | undefined;
  return data?.version === STAT_VERSION && typeof data.files === 'object' && data.files !== null ? (data as StatFile) : undefined;
}

/** The numbers need no check: known() compares each with a number from lstat, so anything else is a miss. */
function isStatRecord(record: unknown): record is StatRecord {
  return Array.isArray(record) && record.length === 6 && typeof record[5] === 'string' && isDigest(record[5]);
}

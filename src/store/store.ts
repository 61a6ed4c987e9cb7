import { createReadStream } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { isDeepStrictEqual } from 'node:util';
import type { z } from 'zod';
import { digestHex, sha256Digest, type Digest } from '../oci/digest.js';
import { Annotation, MediaType } from '../oci/media-types.js';
import { IndexSchema, parseJson, type Descriptor, type ImageIndex } from '../oci/schemas.js';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { streamHash, type HashPlace } from '../util/hash-threads.js';
import { withLock } from './lock.js';
import { WriteQueue } from './write-queue.js';

/** The default root: system-wide for root, per user otherwise (README.md, `--root`). */
export function defaultRoot(): string {
  if (process.env.SEALBUILD_ROOT) return process.env.SEALBUILD_ROOT;
  if (process.getuid?.() === 0) return '/var/lib/sealbuild';
  const dataHome = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(dataHome, 'sealbuild');
}

export interface TaggedImage {
  /** The normalised reference, e.g. `docker.io/my/app:v1`. */
  name: string;
  descriptor: Descriptor;
}

/**
 * The local image store: a plain OCI image layout at `<root>/oci` (readable by skopeo,
 * umoci, buildah as `oci:<root>/oci:<ref>`), with scratch space at `<root>/tmp` on the
 * same filesystem so every blob lands by rename. Tags live in `index.json` as descriptors
 * annotated with `org.opencontainers.image.ref.name`.
 */
export class Store {
  readonly layoutDir: string;
  private readonly tmpDir: string;
  private readonly lockPath: string;

  private constructor(
    readonly root: string,
    /** Opened to read where no store is: it holds nothing, and nothing was created. */
    private readonly absent = false,
  ) {
    this.layoutDir = join(root, 'oci');
    this.tmpDir = join(root, 'tmp');
    this.lockPath = join(root, 'index.lock');
  }

  /**
   * Opens the store at `root`, creating it unless `create` is false: commands that only read
   * (images, inspect, save, rmi …) must not leave a store behind, least of all as root in
   * /var/lib. Without one they see an empty store.
   */
  static async open(root: string, options: { create?: boolean } = {}): Promise<Store> {
    if (options.create === false && !(await exists(join(root, 'oci', 'index.json')))) return new Store(root, true);
    const store = new Store(root);
    try {
      await mkdir(join(store.layoutDir, 'blobs', 'sha256'), { recursive: true });
      await mkdir(store.tmpDir, { recursive: true });
    } catch (err) {
      throw new UserError(`cannot create the store at ${root}: ${(err as Error).message}`, { hint: 'pass a writable --root DIR or set SEALBUILD_ROOT' });
    }
    const layoutFile = join(store.layoutDir, 'oci-layout');
    if (!(await exists(layoutFile))) await writeFileAtomic(layoutFile, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const indexFile = join(store.layoutDir, 'index.json');
    if (!(await exists(indexFile))) {
      await withLock(store.lockPath, async () => {
        if (!(await exists(indexFile))) await store.writeIndex({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
      });
    }
    return store;
  }

  blobPath(digest: Digest): string {
    return join(this.layoutDir, 'blobs', 'sha256', digestHex(digest));
  }

  /**
   * Whether the store holds the blob; with `size`, only at that size: a blob cut short (a
   * power loss before the disk had it, see BlobBatch.commit) is then fetched again.
   */
  async hasBlob(digest: Digest, size?: number): Promise<boolean> {
    if (size === undefined) return exists(this.blobPath(digest));
    return (await stat(this.blobPath(digest)).catch(() => undefined))?.size === size;
  }

  openBlob(digest: Digest): Readable {
    return createReadStream(this.blobPath(digest));
  }

  /** Reads a small blob (manifest, config) whole and checks it still hashes to its name. */
  async readBlob(digest: Digest): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new UserError(`blob ${digest} is missing from the store at ${this.root}`, { hint: 'the image is incomplete; pull or build it again' });
      }
      throw err;
    }
    if (sha256Digest(bytes) !== digest) {
      throw new UserError(`blob ${digest} in the store at ${this.root} is corrupt (its content does not match its digest)`, { hint: 'remove the image and pull or build it again' });
    }
    return bytes;
  }

  async readJson<T extends z.ZodType>(schema: T, digest: Digest): Promise<z.infer<T>> {
    return parseJson(schema, await this.readBlob(digest), `blob ${digest}`);
  }

  /** A set of blobs written aside and moved into the store together, or not at all. */
  async beginBatch(): Promise<BlobBatch> {
    return new BlobBatch(this, await mkdtemp(join(this.tmpDir, 'batch-')));
  }

  /** A scratch directory on the store's filesystem; the caller removes it. */
  async makeTempDir(prefix: string): Promise<string> {
    return mkdtemp(join(this.tmpDir, `${prefix}-`));
  }

  async readIndex(): Promise<ImageIndex> {
    if (this.absent) return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    const file = join(this.layoutDir, 'index.json');
    try {
      return parseJson(IndexSchema, await readFile(file), file);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      // Blobs are named by their digests and stay valid: only the tags are at stake.
      throw new UserError(err.message, { hint: `the store's tag list was damaged or edited by hand: fix the JSON, or move ${file} aside and tag, pull or load the images again` });
    }
  }

  async listTags(): Promise<TaggedImage[]> {
    const index = await this.readIndex();
    return index.manifests.flatMap((descriptor) => {
      const name = descriptor.annotations?.[Annotation.refName];
      return name === undefined ? [] : [{ name, descriptor }];
    });
  }

  async resolveTag(name: string): Promise<Descriptor | undefined> {
    return (await this.listTags()).find((t) => t.name === name)?.descriptor;
  }

  /** Points `name` at `descriptor`, replacing what it pointed at, under the index lock. */
  async setTag(name: string, descriptor: Descriptor): Promise<void> {
    await this.setTags([{ name, descriptor }]);
  }

  /** setTag for several tags in one write of index.json (a pull of 30 images: one fsync, not 30). */
  async setTags(tags: readonly TaggedImage[]): Promise<void> {
    const names = new Set(tags.map((t) => t.name));
    const entries = tags.map(({ name, descriptor }) => ({ ...descriptor, annotations: { ...descriptor.annotations, [Annotation.refName]: name } }));
    // A rebuild with nothing changed sets its tags to where they are: then index.json is not
    // rewritten (temp file, rename, fsync) nor its lock taken. Without the lock a concurrent
    // move of a tag either came before this read (and is seen here) or after this call.
    if (await this.hasEntries(entries)) return;
    await this.updateIndex((manifests) => [
      ...manifests.filter((d) => {
        const name = d.annotations?.[Annotation.refName];
        return name === undefined || !names.has(name);
      }),
      ...entries,
    ]);
  }

  /** Whether index.json holds each of `entries`, and no other entry of its tag. */
  private async hasEntries(entries: readonly Descriptor[]): Promise<boolean> {
    const manifests = (await this.readIndex()).manifests;
    return entries.every((entry) => {
      const name = entry.annotations?.[Annotation.refName];
      const named = manifests.filter((d) => d.annotations?.[Annotation.refName] === name);
      // As JSON has it: a key whose value is undefined is not written.
      return named.length === 1 && isDeepStrictEqual(named[0], JSON.parse(JSON.stringify(entry)));
    });
  }

  /** Removes a tag; false when there was none. Blobs stay until garbage collection. */
  async removeTag(name: string): Promise<boolean> {
    let removed = false;
    await this.updateIndex((manifests) => {
      const kept = manifests.filter((d) => d.annotations?.[Annotation.refName] !== name);
      removed = kept.length !== manifests.length;
      return removed ? kept : undefined;
    });
    return removed;
  }

  /** Read-modify-write of index.json under the lock; `change` returns undefined for no change. */
  private async updateIndex(change: (manifests: Descriptor[]) => Descriptor[] | undefined): Promise<void> {
    await withLock(this.lockPath, async () => {
      const index = await this.readIndex();
      const manifests = change(index.manifests);
      if (manifests !== undefined) await this.writeIndex({ ...index, manifests });
    });
  }

  private async writeIndex(index: ImageIndex): Promise<void> {
    await writeFileAtomic(join(this.layoutDir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
  }
}

export class BlobBatch {
  private readonly staged = new Map<Digest, string>();
  /** Names incoming files uniquely: several blobs stream into a batch at once. */
  private incoming = 0;
  private readonly commitActions: (() => Promise<void>)[] = [];

  constructor(
    readonly store: Store,
    readonly dir: string,
  ) {}

  /** Runs `action` at commit, once this batch's blobs are in the store: for records that point at them. */
  onCommit(action: () => Promise<void>): void {
    this.commitActions.push(action);
  }

  /**
   * Streams a blob into the batch. Each chunk is hashed where `hash` says (a hash thread by
   * default, beside a build's busy main thread; 'here' for a download, which is most of what
   * a pull's process does) and written from the buffer it came in, chunks queued meanwhile
   * going down in one writev (WriteQueue), with no stream between. With `expected`, a blob
   * whose digest or size differ is refused (nothing staged).
   */
  async writeStream(source: Readable, mediaType: string, options: { expected?: { digest: Digest; size: number }; hash?: HashPlace } = {}): Promise<Descriptor> {
    const tmp = join(this.dir, `incoming-${this.incoming++}`);
    const hash = streamHash(options.hash ?? 'thread');
    let size = 0;
    // Listened to from the start: the source may fail while the file is being opened.
    const ended = finished(source);
    ended.catch(() => {});
    let file: FileHandle;
    try {
      // No fsync (see commit()): a blob is whole once renamed, which is what a killed process needs.
      file = await open(tmp, 'wx', 0o644);
    } catch (err) {
      source.destroy();
      hash.abandon();
      throw err;
    }
    const queue = new WriteQueue(file.fd, source);
    let digest: Digest;
    try {
      source.on('data', (chunk: Buffer) => {
        size += chunk.length;
        const hashed = hash.update(chunk);
        queue.add(chunk);
        // A hash thread several stages behind: no next chunk until it has taken this one.
        if (hashed !== undefined) queue.pauseUntil(hashed);
      });
      await ended;
      await queue.drained();
      digest = await hash.digest();
    } catch (err) {
      source.destroy();
      hash.abandon();
      // The fd must not close under a write still running: its number could be reused meanwhile.
      await queue.stopped();
      await file.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await file.close();
    return this.adoptChecked(tmp, digest, size, mediaType, options.expected);
  }

  /** Adopts a written file, unless it differs from `expected` (then it is removed and refused). */
  private async adoptChecked(tmp: string, digest: Digest, size: number, mediaType: string, expected?: { digest: Digest; size: number }): Promise<Descriptor> {
    if (expected && (expected.digest !== digest || expected.size !== size)) {
      await rm(tmp, { force: true });
      throw new UserError(`blob content does not match its descriptor: expected ${expected.digest} (${expected.size} bytes), got ${digest} (${size} bytes)`, {
        hint: 'the source is corrupt or was tampered with; nothing was stored',
      });
    }
    await this.adopt(tmp, digest, size);
    return { mediaType, digest, size };
  }

  async writeBytes(bytes: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = sha256Digest(bytes);
    if (!(await this.hasBlob(digest, bytes.length))) {
      // Written aside and adopted like a stream: a reader of pathOf() never sees it half written.
      const tmp = join(this.dir, `incoming-${this.incoming++}`);
      await writeFile(tmp, bytes, { flag: 'wx', mode: 0o644 });
      await this.adopt(tmp, digest, bytes.length);
    }
    return { mediaType, digest, size: bytes.length };
  }

  /**
   * Takes a fully written, already hashed file of `size` bytes into the batch (renamed, never
   * copied); it replaces a blob of the store cut short.
   */
  async adopt(file: string, digest: Digest, size: number): Promise<void> {
    if (await this.hasBlob(digest, size)) {
      await rm(file, { force: true });
      return;
    }
    const target = join(this.dir, digestHex(digest));
    await rename(file, target);
    this.staged.set(digest, target);
  }

  has(digest: Digest): boolean {
    return this.staged.has(digest);
  }

  /**
   * Whether the blob is staged in this batch (whole: only complete files are adopted) or in the
   * store, whole when `size` is given.
   */
  async hasBlob(digest: Digest, size?: number): Promise<boolean> {
    return this.staged.has(digest) || (await this.store.hasBlob(digest, size));
  }

  /** Where a blob of this batch or of the store can be read. */
  pathOf(digest: Digest): string {
    return this.staged.get(digest) ?? this.store.blobPath(digest);
  }

  /**
   * Moves every staged blob into the store by rename: a process killed at any point leaves
   * each blob whole or absent, never half written under its digest. Blob data is not fsynced
   * (as crane, go-containerregistry's layout, does; skopeo's oci: destination fsyncs each
   * blob): waiting for the disk cost a pull of 615 MB 1.5-2 s of 5 (docs/benchmarks.md). After
   * a power loss a blob may be cut short; every reader checks what it reads against its digest
   * (readBlob) or diff_id (layer-reader.ts) and says to pull or build again, and a pull
   * fetches a blob whose size is wrong again (hasBlob). The tags (index.json) are still
   * written with fsync.
   */
  async commit(): Promise<void> {
    for (const [digest, file] of this.staged) await rename(file, this.store.blobPath(digest));
    this.staged.clear();
    for (const action of this.commitActions.splice(0)) await action();
    await rm(this.dir, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    this.staged.clear();
    this.commitActions.length = 0;
    await rm(this.dir, { recursive: true, force: true });
  }
}


async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { lstat, readFile, realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { Records } from '../cache/records.js';
import { isDigest, type Digest } from '../oci/digest.js';
import { DescriptorSchema, type Descriptor } from '../oci/schemas.js';
import { withBuildLease } from '../store/gc.js';
import { readTarget } from '../store/image.js';
import { Store } from '../store/store.js';
import type { Reporter } from '../util/reporter.js';
import type { BuildOptions, BuildRecorder } from './options.js';
import { findKubefile, type ReadKubefile } from './kubefile-source.js';
import { RACY_MS } from './racy.js';

/**
 * A record of a whole build, so that a rebuild with nothing changed skips the Kubefile, the
 * stages, the layer views and the cache keys: "a build's inputs, observed". It is found by a
 * key over everything the command line gives (the Kubefile's bytes, the context's path, build
 * args, platforms, tags and every flag that changes the image) and lists what the result
 * depended on with the value the build saw: the whole context's file identities (one digest),
 * the store tags it resolved (FROM, COPY --from, cached container images) and their digests,
 * and every blob and layer cache entry (with the layer it named) it used. A rebuild whose record still holds all of that
 * is the same build: it moves the tags to the recorded digest and prints what that build
 * printed, without reading the Kubefile's instructions again.
 *
 * Only builds whose every input is local and checkable are recorded. A build that pulled an
 * image from a registry (a FROM or a container image whose tag the store lacked), downloaded
 * an ADD/APP URL, rendered a chart with helm (whose version is not an input we see), read an
 * image file, or used --cache-from/--cache-to or --no-cache takes the full path every time.
 * So does a build that wrote a layer: only a build that found every step in the cache is
 * recorded, so the one after it prints exactly the lines a cached build prints.
 */

/** Bump when what a record holds or its key covers changes meaning: old records never match. */
const RECORD_VERSION = 1;

/** What the command line asks of a build: the part of BuildOptions that the key covers. */
export type BuildRequest = Pick<BuildOptions, 'contextDir' | 'kubefile' | 'tags' | 'platforms' | 'buildArgs' | 'labels' | 'timestamp' | 'images' | 'sandbox'> & {
  /** As given, not yet checked: a value no build accepted is in no record. */
  compression: string;
  imageType: string;
};

/** Reporter calls a cached build makes, replayed on a hit; any other call means it did work. */
const REPLAYED = ['step', 'cached', 'info', 'warn', 'output'] as const;
const WORKING = ['layer', 'layerWritten', 'transfer'] as const;
type Replayed = (typeof REPLAYED)[number];

const RecordSchema = z.object({
  version: z.literal(RECORD_VERSION),
  context: z.string(),
  tags: z.array(z.tuple([z.string(), z.string().refine(isDigest)])),
  blobs: z.array(z.tuple([z.string().refine(isDigest), z.number()])),
  cacheEntries: z.array(z.tuple([z.string(), z.string()])),
  descriptor: DescriptorSchema,
  log: z.array(z.tuple([z.enum(REPLAYED), z.array(z.unknown())])),
});
type RecordData = z.infer<typeof RecordSchema>;
/** What a record compares of a layer cache entry (builder/cache.ts writes them). */
const LayerEntrySchema = z.looseObject({ layer: z.looseObject({ digest: z.string() }) });

/** One build's record: looked up before the build, written after it when the build was recordable. */
export class BuildRecord implements BuildRecorder {
  private readonly tags = new Map<string, Digest>();
  private readonly entries = new Map<string, Descriptor>();
  private readonly log: RecordData['log'] = [];
  private outside: string | undefined;
  /** The context walked before the build read any of it: its digest, and whether any file was changed too recently to trust. */
  private context: { digest: string; racy: boolean } | undefined;
  private walked = false;

  private constructor(
    private readonly records: Records<RecordData>,
    private readonly key: string,
    private readonly contextRoot: string,
    private readonly requestTags: readonly string[],
    /** The Kubefile whose bytes the key covers: the build parses these, never a later read. */
    readonly kubefile: ReadKubefile,
  ) {}

  /**
   * The record's place for `request` in the store at `storeRoot` (nothing is created), or
   * undefined when the context or Kubefile cannot be read: the full build then says why.
   */
  static async open(storeRoot: string, request: BuildRequest): Promise<BuildRecord | undefined> {
    const contextRoot = await realpath(request.contextDir).catch(() => undefined);
    const kubefile = contextRoot === undefined ? undefined : await findKubefile(request.contextDir, request.kubefile).catch(() => undefined);
    const bytes = kubefile === undefined ? undefined : await readFile(kubefile.path).catch(() => undefined);
    if (contextRoot === undefined || kubefile === undefined || bytes === undefined) return undefined;
    const sorted = (m: Map<string, string>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const { images } = request;
    const key = createHash('sha256').update(JSON.stringify({
      v: RECORD_VERSION,
      code: await codeIdentity(),
      contextRoot,
      kubefile: resolve(kubefile.path),
      kubefileBytes: createHash('sha256').update(bytes).digest('hex'),
      // The other default names found decide the "using …" line, and are in the context digest too.
      otherKubefiles: kubefile.others,
      tags: request.tags,
      platforms: request.platforms.map((p) => [p.os, p.architecture, p.variant ?? '']),
      buildArgs: sorted(request.buildArgs),
      labels: sorted(request.labels),
      compression: request.compression,
      timestamp: request.timestamp.getTime(),
      images: { mode: images.mode, extra: images.extra, ignored: [...images.ignored].sort(), fields: images.fields, allPlatforms: images.allPlatforms },
      sandbox: [request.sandbox.isolation, request.sandbox.network],
      imageType: request.imageType,
    })).digest('hex');
    return new BuildRecord(new Records(storeRoot, 'builds', RecordSchema), key, contextRoot, request.tags, { ...kubefile, bytes });
  }

  /**
   * The recorded result when every input the record lists is as it was: the recorded build's
   * progress lines are printed again and the tags are moved to it. Undefined otherwise (the
   * caller builds in full, and this record then has the context walked already).
   */
  async replay(storeRoot: string, reporter: Reporter): Promise<Descriptor | undefined> {
    const record = await this.records.read(this.key);
    if (record === undefined) return undefined;
    this.context = walkContext(this.contextRoot);
    this.walked = true;
    if (this.context?.digest !== record.context) return undefined;
    const store = await Store.open(storeRoot);
    return withBuildLease(store, async () => {
      for (const [name, digest] of record.tags) if ((await store.resolveTag(name))?.digest !== digest) return undefined;
      for (const [digest, size] of record.blobs) if (!(await store.hasBlob(digest, size))) return undefined;
      // An entry can point at another layer since (a --no-cache build of a RUN records what it made).
      const entries = new Records(storeRoot, 'layers', LayerEntrySchema);
      for (const [key, digest] of record.cacheEntries) if ((await entries.read(key))?.layer.digest !== digest) return undefined;
      for (const [method, args] of record.log) (reporter[method] as (...a: unknown[]) => void)(...args);
      for (const tag of this.requestTags) await store.setTag(tag, record.descriptor);
      return record.descriptor;
    });
  }

  /** Walks the context now, before the build reads it, unless replay() did. */
  beforeBuild(reporter: Reporter): void {
    if (!this.walked) this.context = walkContext(this.contextRoot);
    for (const name of REPLAYED) tap(reporter, name, (args) => this.log.push([name, args]));
    for (const name of WORKING) tap(reporter, name, () => this.external('a step did work'));
  }

  resolved(name: string, digest: Digest): void {
    this.tags.set(name, digest);
  }

  external(why: string): void {
    this.outside ??= why;
  }

  cacheEntry(keyHex: string, blob: Descriptor): void {
    this.entries.set(keyHex, blob);
  }

  /** Writes the record of a build that ended with `descriptor` in `store`, if everything it depended on can be checked. */
  async afterBuild(store: Store, descriptor: Descriptor): Promise<void> {
    if (this.outside !== undefined || this.context === undefined || this.context.racy) return;
    const blobs = new Map<Digest, number>([[descriptor.digest, descriptor.size]]);
    for (const image of (await readTarget(store, descriptor)).images) {
      for (const d of [image.descriptor, image.manifest.config, ...image.manifest.layers]) blobs.set(d.digest, d.size);
    }
    for (const blob of this.entries.values()) blobs.set(blob.digest, blob.size);
    await this.records.write(this.key, {
      version: RECORD_VERSION,
      context: this.context.digest,
      tags: [...this.tags],
      blobs: [...blobs],
      cacheEntries: [...this.entries].map(([key, blob]) => [key, blob.digest]),
      descriptor,
      log: this.log,
    });
  }
}

/**
 * Every entry under the context root, ignored or not, with what could change what a build
 * makes of it (type, mode, inode and device; for non-directories also size, mtime and ctime:
 * the stat cache's identity), hashed into one digest. Directories are listed, so an added or
 * removed file changes it. Ignore files are context files like any other. `racy`: some file
 * changed within RACY_MS of now, so a write in the same timestamp tick after the build reads
 * it could go unseen (builder/racy.ts): such a build is not recorded. Undefined when some part
 * cannot be read (a directory only root may list, ignored by the build): no record then, and
 * the build goes on as it would without one.
 */
function walkContext(root: string): { digest: string; racy: boolean } | undefined {
  try {
    return walkContextOrThrow(root);
  } catch {
    return undefined;
  }
}

function walkContextOrThrow(root: string): { digest: string; racy: boolean } {
  const started = Date.now();
  const paths: string[] = [];
  // Six numbers per entry, hashed as bytes: formatting them as text was a third of this walk's time.
  let numbers = new Float64Array(6 * 4096);
  let count = 0;
  let newest = 0;
  const add = (path: string, s: Stats): void => {
    if (count + 6 > numbers.length) {
      const grown = new Float64Array(numbers.length * 2);
      grown.set(numbers);
      numbers = grown;
    }
    const file = !s.isDirectory();
    numbers.set([s.mode, s.ino, s.dev, file ? s.size : 0, file ? s.mtimeMs : 0, file ? s.ctimeMs : 0], count);
    count += 6;
    paths.push(path);
    if (file && s.ctimeMs > newest) newest = s.ctimeMs;
  };
  const walk = (dir: string, rel: string): void => {
    // Synchronous, as the build's own walk (collect.ts): thousands of lstat calls, nothing to overlap.
    for (const name of readdirSync(dir).sort()) {
      const abs = `${dir}/${name}`;
      const path = rel === '' ? name : `${rel}/${name}`;
      const s = lstatSync(abs);
      add(path, s);
      if (s.isDirectory()) walk(abs, path);
    }
  };
  add('', lstatSync(root));
  walk(root, '');
  // NUL cannot be in a file name: the paths part is unambiguous, and each path has its six numbers.
  const digest = createHash('sha256').update(paths.join('\0')).update(new Uint8Array(numbers.buffer, 0, count * 8)).digest('hex');
  return { digest, racy: started - newest <= RACY_MS };
}

/** The running code and Node: a rebuilt sealbuild (same version, other output) never reuses a record. */
async function codeIdentity(): Promise<string[]> {
  const files = [process.execPath, fileURLToPath(import.meta.url)];
  return Promise.all(files.map(async (file) => {
    const s = await lstat(file).catch(() => undefined);
    return s === undefined ? `${file}: none` : `${file}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  }));
}

/** Calls `seen` with the arguments of each call of the reporter's `method`, then makes the call. */
function tap(reporter: Reporter, method: Replayed | (typeof WORKING)[number], seen: (args: unknown[]) => void): void {
  const original = reporter[method] as (...args: unknown[]) => unknown;
  Object.defineProperty(reporter, method, {
    value: (...args: unknown[]) => {
      seen(args);
      return original.apply(reporter, args);
    },
    configurable: true,
  });
}

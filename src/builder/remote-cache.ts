import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { isDigest, sha256Digest, shortDigest, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { formatReference, parseReference, type Reference } from '../oci/reference.js';
import { DescriptorSchema, ManifestSchema, parseJson, type Descriptor, type Manifest } from '../oci/schemas.js';
import type { RepositoryClient } from '../registry/client.js';
import { copyBlobs } from '../transfer/copy.js';
import { RegistrySink } from '../transfer/registry-endpoint.js';
import { StoreSink, storeSource } from '../transfer/store-endpoint.js';
import type { Registries } from '../registry/registries.js';
import type { BlobBatch, Store } from '../store/store.js';
import { UsageError, UserError } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import type { RemoteLayers } from './cache.js';
import { blobLayer, type Layer } from '../layer/image-model.js';

/** The tag a cache goes to when `registry=REPO` names none (BuildKit's habit). */
export const DEFAULT_CACHE_TAG = 'buildcache';
export const CACHE_ARTIFACT_TYPE = 'application/vnd.sealbuild.buildcache.v1';
export const CACHE_CONFIG_TYPE = 'application/vnd.sealbuild.buildcache.config.v1+json';
/**
 * Entries kept in one cache manifest, newest first. 1000 layers keep the manifest near
 * 200 KB, far below the 4 MiB registries accept, and bound what the registry keeps alive.
 */
const MAX_ENTRIES = 1000;
/** The config is a list of small entries; a larger one is not ours. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
const PUSH_CONCURRENCY = 4;

const digest = z.string().refine(isDigest, 'must be sha256: followed by 64 lowercase hex').transform((d) => d as Digest);
const CacheConfigSchema = z.object({
  entries: z.array(z.object({ key: digest, layer: DescriptorSchema, diffId: digest })),
});
type CacheEntry = z.infer<typeof CacheConfigSchema>['entries'][number];

export interface RemoteCacheOptions {
  registries: Registries;
  reporter: Reporter;
  /** --cache-from: where cache entries are read. */
  from?: Reference;
  /** --cache-to: where the entries this build used or produced go after it succeeds. */
  to?: Reference;
}

/** `--cache-from|--cache-to registry=REPO[:TAG]`: the tag defaults to `buildcache`, as in BuildKit. */
export function cacheReference(flag: string, value: string | undefined): Reference | undefined {
  if (value === undefined) return undefined;
  const text = /^registry=(.+)$/.exec(value)?.[1];
  if (text === undefined) throw new UsageError(`${flag}: "${value}" is not registry=REPOSITORY`, `write e.g. ${flag} registry=registry.example.com/team/k3s-cache`);
  const ref = parseReference(text);
  if (ref.digest !== undefined && flag === '--cache-to') throw new UsageError(`${flag}: cannot export to a digest reference (${text})`, 'name a repository, and a tag if not buildcache');
  const name = text.split('@')[0]!;
  // parseReference fills in `latest`; a cache has a tag of its own unless one is written.
  if (ref.digest === undefined && name.lastIndexOf(':') < name.lastIndexOf('/') + 1) ref.tag = DEFAULT_CACHE_TAG;
  return ref;
}

/**
 * A layer cache shared through a registry (BuildKit's registry cache): one OCI manifest per
 * tag whose config maps cache keys to layers and whose layers are those blobs, so the
 * registry keeps them and any runner can fetch them. Keys are content-addressed (cache.ts),
 * so a key another runner recorded names the same layer here. Only layers of keys that hit
 * are downloaded. Reading a cache never fails a build: problems are warnings and the steps
 * are built. Writing one is what the user asked for, so its failures are errors.
 */
export class RemoteCache implements RemoteLayers {
  private readonly entries = new Map<Digest, CacheEntry>();

  private constructor(private readonly options: RemoteCacheOptions) {}

  /** Reads the --cache-from manifest, if any; a missing one is a cold cache. */
  static async open(options: RemoteCacheOptions): Promise<RemoteCache> {
    const cache = new RemoteCache(options);
    const { from, reporter } = options;
    if (from === undefined) return cache;
    const name = formatReference(from);
    try {
      const entries = await readCache(options.registries.repository(from), from, name);
      if (entries === undefined) reporter.warn(`--cache-from ${name}: no build cache there yet; building without it`);
      for (const entry of entries ?? []) cache.entries.set(entry.key, entry);
      if (entries !== undefined) reporter.info(`Imported build cache ${name}: ${entries.length} entries`, { event: 'cache-import', ref: name, entries: entries.length });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      reporter.warn(`--cache-from ${name}: ${err.message}; building without it`);
    }
    return cache;
  }

  /** A cached layer for `key`, its blob streamed into `batch` unless the store has it. */
  async fetch(key: Digest, batch: BlobBatch): Promise<Layer | undefined> {
    const entry = this.entries.get(key);
    if (entry === undefined || this.options.from === undefined) return undefined;
    const { layer } = entry;
    const { reporter } = this.options;
    try {
      const source = this.options.registries.repository(this.options.from);
      await copyBlobs([{ blob: layer, source }], new StoreSink(batch, { quiet: true }), { reporter, concurrency: 1, verb: 'fetching cached' });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      reporter.warn(`--cache-from: layer ${shortDigest(layer.digest)}: ${err.message}; building the step instead`);
      return undefined;
    }
    // The blob matches its digest, but the diffId goes into the image config as given: a
    // damaged or forged entry must not produce an image whose rootfs does not match.
    const fetched = blobLayer({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, entry.diffId, (d) => batch.pathOf(d), 'the remote build cache');
    if (!(await unpacksWhole(fetched))) {
      reporter.warn(`--cache-from: layer ${shortDigest(layer.digest)} does not unpack to the diffId its cache entry names; building the step instead`);
      return undefined;
    }
    return fetched;
  }

  /**
   * Pushes `used` (the entries a build hit or recorded, their blobs in the store) merged
   * with what the --cache-to tag already holds, so runners and platforms accumulate; newest
   * first, capped at MAX_ENTRIES. Two runners exporting at the same moment each merge what
   * they read: the later tag wins and the other's new entries wait for its next export.
   */
  async export(store: Store, used: ReadonlyMap<Digest, Layer>): Promise<void> {
    const { to, from, registries, reporter } = this.options;
    if (to === undefined) return;
    const name = formatReference(to);
    try {
      const repo = registries.repository(to, true);
      const merged = new Map<Digest, CacheEntry>();
      for (const [key, { descriptor, diffId }] of used) merged.set(key, { key, layer: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size }, diffId });
      for (const entry of (await readCache(repo, to, name)) ?? []) if (!merged.has(entry.key)) merged.set(entry.key, entry);
      const entries = [...merged.values()].slice(0, MAX_ENTRIES);
      const layers = new Map<Digest, Descriptor>(entries.map((e) => [e.layer.digest, e.layer]));
      // Layers of entries read from the tag are in the repository already: a HEAD skips them.
      const ours = [...used.values()].map((l) => l.descriptor).filter((d) => layers.has(d.digest));
      const mountFrom = from !== undefined && from.domain === to.domain && from.path !== to.path ? [from.path] : [];
      const stored = storeSource(store);
      await copyBlobs([...new Map(ours.map((d) => [d.digest, d])).values()].map((blob) => ({ blob, source: stored })), new RegistrySink(repo, () => mountFrom), { reporter, concurrency: PUSH_CONCURRENCY, verb: 'uploading' });
      const config = Buffer.from(JSON.stringify({ entries }));
      const configDescriptor: Descriptor = { mediaType: CACHE_CONFIG_TYPE, digest: sha256Digest(config), size: config.length };
      await uploadBytes(store, repo, configDescriptor, config);
      const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: CACHE_ARTIFACT_TYPE, config: configDescriptor, layers: [...layers.values()] };
      const bytes = Buffer.from(JSON.stringify(manifest));
      if ((await repo.headManifest(to.tag!)) !== sha256Digest(bytes)) await repo.putManifest(to.tag!, bytes, MediaType.ociManifest);
      reporter.info(`Exported build cache ${name}: ${entries.length} entries`, { event: 'cache-export', ref: name, entries: entries.length, digest: sha256Digest(bytes) });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      throw new UserError(`--cache-to ${name}: ${err.message}`, { hint: `the image was built and tagged; ${err.hint ?? 'fix the cache destination and build again'}` });
    }
  }
}

/** The entries of the cache manifest at `ref`; undefined when the tag (or repository) does not exist. */
async function readCache(repo: RepositoryClient, ref: Reference, name: string): Promise<CacheEntry[] | undefined> {
  const manifestDigest = ref.digest ?? (await repo.headManifest(ref.tag!));
  if (manifestDigest === undefined) return undefined;
  const fetched = await repo.getManifest(manifestDigest);
  const manifest = parseJson(ManifestSchema, fetched.bytes, `manifest ${name}`);
  if (manifest.config.mediaType !== CACHE_CONFIG_TYPE) {
    throw new UserError(`${name} is not a sealbuild build cache (its config is ${manifest.config.mediaType})`, { hint: `name a tag of its own for the cache, e.g. registry=${ref.domain}/${ref.path}:${DEFAULT_CACHE_TAG}` });
  }
  const { digest: configDigest, size } = manifest.config;
  if (size > MAX_CONFIG_BYTES) throw new UserError(`${name}: cache config of ${size} bytes is larger than ${MAX_CONFIG_BYTES}`, { hint: 'this is not a sealbuild build cache' });
  const chunks: Buffer[] = [];
  for await (const chunk of repo.openBlob(configDigest, size)) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  if (sha256Digest(bytes) !== configDigest) throw new UserError(`${name}: the cache config received does not match its digest ${configDigest}`, { hint: 'the registry or a proxy altered it' });
  return parseJson(CacheConfigSchema, bytes, `cache config of ${name}`).entries;
}

/** Whether the layer's tar reads to its end as its diffId (Layer.open checks it there). */
async function unpacksWhole(layer: Layer): Promise<boolean> {
  try {
    for await (const _ of layer.open()) {
      // the bytes are only hashed by the check
    }
    return true;
  } catch {
    return false;
  }
}

/** Uploads a small blob that is not in the store (the cache config), unless the registry has it. */
async function uploadBytes(store: Store, repo: RepositoryClient, descriptor: Descriptor, bytes: Buffer): Promise<void> {
  if (await repo.hasBlob(descriptor.digest)) return;
  const dir = await store.makeTempDir('cache-config');
  try {
    const file = join(dir, 'config.json');
    await writeFile(file, bytes);
    await repo.uploadBlob(file, descriptor.digest, descriptor.size);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

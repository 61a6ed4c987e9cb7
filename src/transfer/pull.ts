import { readFile } from 'node:fs/promises';
import type { Digest } from '../oci/digest.js';
import { MediaType, isIndexMediaType } from '../oci/media-types.js';
import { formatPlatform, normalizePlatform, samePlatform, type Platform } from '../oci/platform.js';
import { formatReference, parseReference, type Reference } from '../oci/reference.js';
import { ImageConfigSchema, IndexSchema, ManifestSchema, parseJson, type Descriptor, type Manifest } from '../oci/schemas.js';
import { BlobSources } from '../store/blob-sources.js';
import type { BlobBatch, Store } from '../store/store.js';
import { UserError } from '../util/errors.js';
import { mapLimit } from '../util/limit.js';
import type { Reporter } from '../util/reporter.js';
import { BODY_CAPS, readSmallBlob } from '../registry/body.js';
import type { RepositoryClient } from '../registry/client.js';
import type { Registries } from '../registry/registries.js';
import { copyBlobs } from './copy.js';
import { StoreSink } from './store-endpoint.js';

export interface PullOptions {
  /** Which platforms of a multi-platform image to fetch; 'all' for every one. */
  platforms: Platform[] | 'all';
  registries: Registries;
  reporter: Reporter;
  /** Blobs downloaded at once. */
  concurrency?: number;
}

export const DEFAULT_PULL_CONCURRENCY = 6;

/** Where an image's manifests and blobs are read: a registry repository, or an image file. */
export type ImageSource = Pick<RepositoryClient, 'getManifest' | 'openBlob'>;

/** One image to pull and the platforms wanted from it. */
export interface PullRequest {
  ref: string;
  platforms: Platform[] | 'all';
  /** An image file to read instead of the registry `ref` names (`from` says which, for messages). */
  file?: { source: ImageSource; from: string };
  /** Fetch exactly this digest (one whose signature was verified); the store tag is still `ref`. */
  digest?: Digest;
}

export interface PullResult {
  /** The store tag: the normalised reference as given (tag and/or digest). */
  name: string;
  descriptor: Descriptor;
}

/**
 * Pulls an image into the store: the manifest or index as the registry sent it (so digests
 * stay exactly the registry's), the chosen platforms' manifests, configs and layers. Blobs
 * the store already has are not fetched; every byte is checked against its digest and size
 * as it streams (layers are not decompressed: a layer's diff_id is checked by whatever reads
 * it first, layer-reader.ts); the store sees the image only when all of it has arrived.
 */
export async function pullImage(store: Store, text: string, options: PullOptions): Promise<PullResult> {
  const { images } = await pullImages(store, [{ ref: text, platforms: options.platforms }], options);
  return images[0]!;
}

/**
 * Pulls several images at once: manifests first, then the union of their blobs, each
 * fetched once however many images share it, with bounded concurrency, through the one copy
 * (copy.ts: registry or image file -> the store's batch). All or nothing.
 */
export async function pullImages(store: Store, requests: PullRequest[], options: Omit<PullOptions, 'platforms'>): Promise<{ images: PullResult[]; downloadedBytes: number }> {
  const batch = await store.beginBatch();
  try {
    // `from`: the registry repository a blob comes from (none for an image file).
    const blobs = new Map<Digest, { blob: Descriptor; repo: ImageSource; from?: Reference }>();
    const images = await mapLimit(requests, options.concurrency ?? DEFAULT_PULL_CONCURRENCY, async (request) => {
      const ref = parseReference(request.ref);
      const name = formatReference(ref);
      const repo = request.file?.source ?? options.registries.repository(ref);
      options.reporter.info(request.file ? `Reading ${name} from ${request.file.from}` : `Pulling ${name}`);
      const { descriptor, manifests } = await fetchManifests(repo, request.digest ?? ref.digest ?? ref.tag!, name, request.platforms, batch, options.concurrency ?? DEFAULT_PULL_CONCURRENCY).catch((err: unknown) => {
        // Name the image when the failure does not (a host that cannot be reached, say).
        if (err instanceof UserError && !err.message.includes(ref.path)) throw new UserError(`pulling ${name}: ${err.message}`, err.hint === undefined ? {} : { hint: err.hint });
        throw err;
      });
      for (const m of manifests) {
        await stageConfig(repo, m, batch, name);
        for (const blob of [m.config, ...m.layers]) if (!blobs.has(blob.digest)) blobs.set(blob.digest, request.file ? { blob, repo } : { blob, repo, from: ref });
      }
      return { name, descriptor };
    });
    const { sentBytes: downloadedBytes } = await copyBlobs([...blobs.values()].map(({ blob, repo }) => ({ blob, source: repo })), new StoreSink(batch), {
      reporter: options.reporter, concurrency: options.concurrency ?? DEFAULT_PULL_CONCURRENCY, verb: 'copying',
    });
    await batch.commit();
    // So that a push to the same registry mounts these blobs instead of uploading them.
    const sources = new BlobSources(store);
    for (const { blob, from } of blobs.values()) if (from) await sources.add([blob.digest], from.domain, from.path);
    await store.setTags(images);
    for (const [i, { name, descriptor }] of images.entries()) {
      options.reporter.info(`${requests[i]!.file ? 'Read' : 'Pulled'} ${name}: ${descriptor.digest}`, { digest: descriptor.digest });
    }
    return { images, downloadedBytes };
  } catch (err) {
    await batch.abort();
    throw err;
  }
}

/**
 * The top manifest or index and the manifests of the wanted platforms, staged in `batch`;
 * an index's children are fetched `concurrency` at a time, like blobs.
 */
async function fetchManifests(repo: ImageSource, ref: string, name: string, platforms: Platform[] | 'all', batch: BlobBatch, concurrency: number): Promise<{ descriptor: Descriptor; manifests: Manifest[] }> {
  const top = await repo.getManifest(ref);
  const descriptor = await batch.writeBytes(top.bytes, top.mediaType);
  if (!isIndexMediaType(top.mediaType)) {
    const manifest = parseJson(ManifestSchema, top.bytes, `manifest ${name}`);
    await checkSinglePlatform(repo, manifest, platforms, batch, name);
    return { descriptor, manifests: [manifest] };
  }
  const index = parseJson(IndexSchema, top.bytes, `index ${name}`);
  const manifests = await mapLimit(selectChildren(index.manifests, platforms, name), concurrency, async (child) => {
    const fetched = await repo.getManifest(child.digest);
    await batch.writeBytes(fetched.bytes, child.mediaType);
    return parseJson(ManifestSchema, fetched.bytes, `manifest ${child.digest}`);
  });
  return { descriptor, manifests };
}

/**
 * Stages an image config (fetched under the config cap unless staged or stored already) and
 * checks it lists one diff_id per layer. Whether each diff_id is true is checked where a layer
 * is first decompressed (layer-reader.ts), not here: pull only verifies blob digests and sizes.
 * An artifact whose config is not an image config is left to copyBlobs.
 */
async function stageConfig(repo: ImageSource, manifest: Manifest, batch: BlobBatch, name: string): Promise<void> {
  const { config } = manifest;
  if (config.mediaType !== MediaType.ociConfig && config.mediaType !== MediaType.dockerConfig) return;
  const what = `config of ${name}`;
  // Staged by the platform check, or in the store already (capped when it was pulled).
  const bytes = (await readFile(batch.pathOf(config.digest)).catch(() => undefined)) ?? (await readSmallBlob(repo, config, BODY_CAPS.config, what));
  await batch.writeBytes(bytes, config.mediaType);
  const diffIds = parseJson(ImageConfigSchema, bytes, what).rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new UserError(`${what}: lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`, { hint: 'the image is malformed or hostile; nothing was stored' });
  }
}

function selectChildren(children: Descriptor[], wanted: Platform[] | 'all', name: string): Descriptor[] {
  const images = children.filter((c) => c.platform !== undefined && c.platform.architecture !== 'unknown');
  if (wanted === 'all') return images;
  return wanted.map((platform) => {
    const match = images.find((c) => samePlatform(normalizePlatform(c.platform!), platform));
    if (!match) {
      const available = images.map((c) => formatPlatform(normalizePlatform(c.platform!))).join(', ');
      throw new UserError(`image ${name} has no ${formatPlatform(platform)} variant (it has: ${available || 'none'})`, { hint: 'pick one of its platforms with --platform' });
    }
    return match;
  });
}

/** A single-platform image must be the platform asked for: no x86 binaries in an arm64 build. */
async function checkSinglePlatform(repo: ImageSource, manifest: Manifest, wanted: Platform[] | 'all', batch: BlobBatch, name: string): Promise<void> {
  if (wanted === 'all') return;
  const bytes = await readSmallBlob(repo, manifest.config, BODY_CAPS.config, `config of ${name}`);
  await batch.writeBytes(bytes, manifest.config.mediaType);
  const config = parseJson(ImageConfigSchema, bytes, `config of ${name}`);
  const actual = normalizePlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
  const mismatch = wanted.find((p) => !samePlatform(p, actual));
  if (mismatch) {
    throw new UserError(`image ${name} is ${formatPlatform(actual)} only, not ${formatPlatform(mismatch)}`, { hint: `use an image built for ${formatPlatform(mismatch)}, or a multi-platform one` });
  }
}

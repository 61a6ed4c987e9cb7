import { isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import { formatPlatform, hostPlatform, normalizePlatform, samePlatform, type Platform } from '../oci/platform.js';
import { ImageConfigSchema, IndexSchema, ManifestSchema, type Descriptor, type ImageConfig, type ImageIndex, type Manifest } from '../oci/schemas.js';
import { UserError } from '../util/errors.js';
import type { Store } from './store.js';

/** One platform's image: its manifest and config, read and validated from the store. */
export interface ResolvedImage {
  descriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  platform: Platform;
}

/** A tag's target: one manifest, or an index of per-platform manifests. */
export interface StoredTarget {
  descriptor: Descriptor;
  index?: ImageIndex;
  images: ResolvedImage[];
  /** Index entries the store does not hold (platforms not pulled). */
  missing: Descriptor[];
}

export async function readTarget(store: Store, descriptor: Descriptor): Promise<StoredTarget> {
  if (isIndexMediaType(descriptor.mediaType)) {
    const index = await store.readJson(IndexSchema, descriptor.digest);
    const images: ResolvedImage[] = [];
    const missing: Descriptor[] = [];
    for (const child of index.manifests) {
      // A pull of some platforms keeps the index as published, with the others absent.
      if (!(await store.hasBlob(child.digest))) missing.push(child);
      else if (isManifestMediaType(child.mediaType)) images.push(await readImage(store, child));
    }
    return { descriptor, index, images, missing };
  }
  if (!isManifestMediaType(descriptor.mediaType)) {
    throw new UserError(`unsupported media type ${descriptor.mediaType} for ${descriptor.digest}`, { hint: 'sealbuild reads OCI and Docker schema2 images' });
  }
  return { descriptor, images: [await readImage(store, descriptor)], missing: [] };
}

async function readImage(store: Store, descriptor: Descriptor): Promise<ResolvedImage> {
  const manifest = await store.readJson(ManifestSchema, descriptor.digest);
  const config = await store.readJson(ImageConfigSchema, manifest.config.digest);
  const platform: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant) platform.variant = config.variant;
  return { descriptor, manifest, config, platform };
}

/** Refuses an index with platforms the store lacks: it cannot be copied whole. */
export function requireComplete(target: StoredTarget, shown: string): void {
  if (target.missing.length === 0) return;
  const absent = target.missing.map((d) => (d.platform ? formatPlatform(normalizePlatform(d.platform)) : d.digest)).join(', ');
  throw new UserError(`image "${shown}" is only partly in the store (missing: ${absent})`, { hint: 'pull it with --all-platforms first' });
}

/** Looks up a tag in the store; a clear error naming it when absent. */
export async function readTagged(store: Store, name: string, shown: string): Promise<StoredTarget> {
  const descriptor = await store.resolveTag(name);
  if (!descriptor) {
    throw new UserError(`image "${shown}" is not in the store (${store.root})`, { hint: '`sealbuild images` lists what the store holds' });
  }
  return readTarget(store, descriptor);
}

/** The image of `target` for `platform`; an error listing the platforms it has otherwise. */
export function selectPlatform(target: StoredTarget, platform: Platform, shown: string): ResolvedImage {
  const match = target.images.find((image) => samePlatform(image.platform, platform));
  if (match) return match;
  const available = target.images.map((image) => formatPlatform(image.platform)).join(', ');
  throw new UserError(`image "${shown}" has no ${formatPlatform(platform)} variant (it has: ${available || 'none'})`, { hint: 'pick one of its platforms with --platform' });
}

/** `--platform`'s image, else the only one, else this machine's; several and none of them this machine's is a usage error. */
export function choosePlatform(target: StoredTarget, wanted: Platform | undefined, shown: string): ResolvedImage {
  if (wanted) return selectPlatform(target, wanted, shown);
  const image = target.images.length === 1 ? target.images[0] : target.images.find((i) => samePlatform(i.platform, hostPlatform()));
  if (image) return image;
  throw new UserError(`image "${shown}" has several platforms (${target.images.map((i) => formatPlatform(i.platform)).join(', ')})`, { hint: 'choose one with --platform', exitCode: 2 });
}

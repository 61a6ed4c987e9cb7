import type { Digest } from '../oci/digest.js';
import { Annotation } from '../oci/media-types.js';
import { formatReference, parseReference, type Reference } from '../oci/reference.js';
import type { Descriptor } from '../oci/schemas.js';
import { readTagged, requireComplete } from '../store/image.js';
import { BlobSources } from '../store/blob-sources.js';
import type { Store } from '../store/store.js';
import { UserError } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import type { Registries } from '../registry/registries.js';
import { copyBlobs } from './copy.js';
import { RegistrySink } from './registry-endpoint.js';
import { storeSource } from './store-endpoint.js';

export interface PushOptions {
  registries: Registries;
  reporter: Reporter;
  /** Blobs uploaded at once. */
  concurrency?: number;
}

export interface PushResult {
  destination: string;
  digest: Digest;
  uploadedBytes: number;
}

export const DEFAULT_PUSH_CONCURRENCY = 4;

/**
 * Pushes a stored image (manifest or index) with its exact bytes, so the registry's digest
 * equals the store's: its blobs go store -> registry through the one copy (copy.ts). Blobs the
 * registry has are skipped after a HEAD; blobs another repository of the same registry has
 * (one they were pulled from or pushed to before, see BlobSources, or the image's or its
 * base's) are mounted; the rest are uploaded. Manifests go up
 * children first, the tag last, and only when the registry does not already have them: an
 * unchanged re-push sends nothing but HEAD requests.
 */
export async function pushImage(store: Store, localName: string, shown: string, destText: string | undefined, options: PushOptions): Promise<PushResult> {
  const target = await readTagged(store, localName, shown);
  requireComplete(target, shown);
  const dest = parseReference(destText ?? localName);
  if (dest.digest !== undefined) throw new UserError(`cannot push to a digest reference (${destText ?? shown})`, { hint: 'push to a tag; the digest follows from the content', exitCode: 2 });
  const repo = options.registries.repository(dest, true);
  const mountFrom = mountSources(localName, target.images.map((i) => i.manifest.annotations?.[Annotation.baseName]), dest);
  const destination = formatReference(dest);
  options.reporter.info(`Pushing ${destination}`);

  const blobs = new Map<Digest, Descriptor>();
  for (const image of target.images) for (const d of [image.manifest.config, ...image.manifest.layers]) blobs.set(d.digest, d);
  const sources = new BlobSources(store);
  // Where the blob is known to be comes first: a guess that misses starts an upload (202).
  const sink = new RegistrySink(repo, async (blob) => [...new Set([...(await sources.on(blob.digest, dest.domain)).filter((path) => path !== dest.path), ...mountFrom])]);
  const from = storeSource(store);
  const { sentBytes: uploadedBytes } = await copyBlobs([...blobs.values()].map((blob) => ({ blob, source: from })), sink, { reporter: options.reporter, concurrency: options.concurrency ?? DEFAULT_PUSH_CONCURRENCY, verb: 'uploading' });
  await sources.add(blobs.keys(), dest.domain, dest.path);

  if (target.index) {
    for (const image of target.images) {
      if ((await repo.headManifest(image.descriptor.digest)) === image.descriptor.digest) continue;
      await repo.putManifest(image.descriptor.digest, await store.readBlob(image.descriptor.digest), image.descriptor.mediaType);
    }
  }
  const digest = target.descriptor.digest;
  if ((await repo.headManifest(dest.tag!)) !== digest) {
    await repo.putManifest(dest.tag!, await store.readBlob(digest), target.descriptor.mediaType);
  }
  options.reporter.info(`Pushed ${destination}: ${digest}`, { digest });
  return { destination, digest, uploadedBytes };
}

/**
 * Repositories of the destination registry that may hold our blobs already, by name: the
 * one the image was pulled from or named after, and its base image's. Mounting needs no bytes.
 */
function mountSources(localName: string, baseNames: (string | undefined)[], dest: Reference): string[] {
  const sources = new Set<string>();
  for (const name of [localName, ...baseNames]) {
    if (name === undefined) continue;
    const ref = parseReference(name);
    if (ref.domain === dest.domain && ref.path !== dest.path) sources.add(ref.path);
  }
  return [...sources];
}


import type { Digest } from '../oci/digest.js';
import { Annotation, MediaType, isIndexMediaType } from '../oci/media-types.js';
import { formatPlatform, normalizePlatform, samePlatform, type Platform } from '../oci/platform.js';
import { formatReference, parseReference } from '../oci/reference.js';
import { ImageConfigSchema, IndexSchema, ManifestSchema, parseJson, type Descriptor, type ImageIndex } from '../oci/schemas.js';
import { withBuildLease } from '../store/gc.js';
import { readTarget } from '../store/image.js';
import type { Store } from '../store/store.js';
import { UserError } from '../util/errors.js';
import { BODY_CAPS, readSmallBlob } from '../registry/body.js';
import type { Registries } from '../registry/registries.js';

/**
 * The per-platform entries `ref` contributes to a list: its manifest with the platform its
 * config names, or every entry of its index. The store is asked first (an image built or
 * pulled here); otherwise the registry, which needs only the manifest and its small config.
 */
async function entriesOf(store: Store, registries: Registries, name: string): Promise<Descriptor[]> {
  const local = await store.resolveTag(name);
  if (local) {
    const target = await readTarget(store, local);
    if (target.index) return target.index.manifests.map(withoutRefName);
    const image = target.images[0]!;
    return [{ mediaType: local.mediaType, digest: local.digest, size: local.size, platform: { ...image.platform } }];
  }
  const ref = parseReference(name);
  const repo = registries.repository(ref);
  const fetched = await repo.getManifest(ref.digest ?? ref.tag ?? 'latest');
  if (isIndexMediaType(fetched.mediaType)) return parseJson(IndexSchema, fetched.bytes, `index ${name}`).manifests.map(withoutRefName);
  const manifest = parseJson(ManifestSchema, fetched.bytes, `manifest ${name}`);
  const config = parseJson(ImageConfigSchema, await readSmallBlob(repo, manifest.config, BODY_CAPS.config, `config of ${name}`), `config of ${name}`);
  const platform: Platform = normalizePlatform({ os: config.os, architecture: config.architecture, variant: config.variant });
  return [{ mediaType: fetched.mediaType, digest: fetched.digest, size: fetched.bytes.length, platform: { ...platform } }];
}

function withoutRefName(d: Descriptor): Descriptor {
  const { [Annotation.refName]: _, ...annotations } = d.annotations ?? {};
  const copy: Descriptor = { ...d };
  if (Object.keys(annotations).length > 0) copy.annotations = annotations;
  else delete copy.annotations;
  return copy;
}

/**
 * Creates (or, with `base`, extends) an OCI index of the images `refs` name and tags it
 * `listName` in the store. A platform given twice keeps the later image, so `manifest add`
 * replaces an architecture rebuilt on its runner. Only the index enters the store: its
 * per-platform images stay where they are (here or in the registry). Holds a writer's lease,
 * so prune waits (the index is untagged until its tag moves).
 */
export function createList(store: Store, registries: Registries, listName: string, refs: string[], base?: ImageIndex): Promise<Descriptor> {
  return withBuildLease(store, () => writeList(store, registries, listName, refs, base));
}

async function writeList(store: Store, registries: Registries, listName: string, refs: string[], base?: ImageIndex): Promise<Descriptor> {
  let manifests = base?.manifests ?? [];
  for (const ref of refs) {
    for (const entry of await entriesOf(store, registries, ref)) {
      if (!entry.platform) throw new UserError(`${ref}: manifest ${entry.digest} names no platform`, { hint: 'a manifest list joins per-platform images' });
      const platform = normalizePlatform(entry.platform);
      manifests = [...manifests.filter((m) => !m.platform || !samePlatform(normalizePlatform(m.platform), platform)), entry];
    }
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  const batch = await store.beginBatch();
  try {
    const descriptor = await batch.writeBytes(Buffer.from(JSON.stringify(index)), MediaType.ociIndex);
    await batch.commit();
    await store.setTag(listName, descriptor);
    return descriptor;
  } catch (err) {
    await batch.abort();
    throw err;
  }
}

/** The list's index as stored, or undefined when the store has no such tag. */
export async function readList(store: Store, listName: string, shown: string): Promise<{ descriptor: Descriptor; index: ImageIndex } | undefined> {
  const descriptor = await store.resolveTag(listName);
  if (!descriptor) return undefined;
  if (!isIndexMediaType(descriptor.mediaType)) throw new UserError(`"${shown}" is an image, not a manifest list`, { hint: 'create one with `sealbuild manifest create LIST REF...`' });
  return { descriptor, index: await store.readJson(IndexSchema, descriptor.digest) };
}

/**
 * Pushes a list to `destText` (default: its own name). Each platform's manifest must already
 * be in the destination repository (pushed there by its runner); the index goes up last, so
 * the tag never names a manifest the registry lacks.
 */
export async function pushList(store: Store, registries: Registries, listName: string, shown: string, destText: string | undefined): Promise<{ destination: string; digest: Digest }> {
  const list = await readList(store, listName, shown);
  if (!list) throw new UserError(`manifest list "${shown}" is not in the store (${store.root})`, { hint: 'create it with `sealbuild manifest create LIST REF...`' });
  const dest = parseReference(destText ?? listName);
  if (dest.tag === undefined || dest.digest !== undefined) throw new UserError(`cannot push a manifest list to ${destText ?? shown}`, { hint: 'push to a tag', exitCode: 2 });
  const repo = registries.repository(dest, true);
  for (const child of list.index.manifests) {
    if ((await repo.headManifest(child.digest)) === child.digest) continue;
    const where = child.platform ? formatPlatform(normalizePlatform(child.platform)) : child.digest;
    throw new UserError(`${formatReference(dest)}: the registry has no manifest ${child.digest} (${where})`, { hint: `push that platform's image to ${dest.domain}/${dest.path} first (sealbuild push IMAGE ${dest.domain}/${dest.path}:TAG)` });
  }
  await repo.putManifest(dest.tag, await store.readBlob(list.descriptor.digest), list.descriptor.mediaType);
  return { destination: formatReference(dest), digest: list.descriptor.digest };
}

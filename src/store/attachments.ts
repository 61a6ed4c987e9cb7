import { digestHex, type Digest } from '../oci/digest.js';
import { MediaType, isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import { parseReference, repositoryName } from '../oci/reference.js';
import { IndexSchema, ManifestSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import { referrerDescriptor, referrersTag, type Referrer } from '../registry/referrers.js';
import type { Store } from './store.js';

/*
 * Attachments: what the store keeps about an image rather than as one. Tagged in the image's
 * repository as a registry names them: cosign's `sha256-<hex>.sig` (a signature manifest) and
 * the referrers tag schema's `sha256-<hex>` (an index of the OCI 1.1 referrers of that
 * manifest: its SBOM). They travel in bundles beside the images (store/archive.ts) and are no
 * images themselves: `images` does not list them.
 */

const ATTACHMENT_TAG = /:sha256-([0-9a-f]{64})(\.sig)?$/;

/** Whether a store tag names an attachment (signature or referrers index) rather than an image. */
export function isAttachmentTag(name: string): boolean {
  return ATTACHMENT_TAG.test(name);
}

/** The store tags that hold attachments of one of `digests` (any repository). */
export async function attachmentTags(store: Store, digests: Iterable<Digest>): Promise<{ name: string; descriptor: Descriptor }[]> {
  const wanted = new Set([...digests].map(digestHex));
  return (await store.listTags()).filter((t) => wanted.has(ATTACHMENT_TAG.exec(t.name)?.[1] ?? ''));
}

/**
 * Attachment tags that no image tag of their own repository reaches any more (its digest or,
 * for an index, one of its manifests'): `rmi` removes them with the image's last name there.
 */
export async function orphanedAttachmentTags(store: Store): Promise<string[]> {
  const tags = await store.listTags();
  const reached = new Set<string>();
  const key = (name: string, hex: string): string => `${repositoryName(parseReference(name))}@${hex}`;
  for (const { name, descriptor } of tags) {
    if (isAttachmentTag(name)) continue;
    reached.add(key(name, digestHex(descriptor.digest)));
    if (!isIndexMediaType(descriptor.mediaType) || !(await store.hasBlob(descriptor.digest))) continue;
    for (const child of (await store.readJson(IndexSchema, descriptor.digest)).manifests) reached.add(key(name, digestHex(child.digest)));
  }
  return tags.map((t) => t.name).filter((name) => {
    const subject = ATTACHMENT_TAG.exec(name)?.[1];
    return subject !== undefined && !reached.has(key(name, subject));
  });
}

/** The store tag of the referrers of `subject`, in the repository of the image `name`. */
function referrersStoreTag(name: string, subject: Digest): string {
  return `${repositoryName(parseReference(name))}:${referrersTag(subject)}`;
}

/**
 * The referrer of `subject` with `artifactType` the store keeps (one a bundle brought, or one
 * kept before), with the blobs its manifest names; undefined when there is none.
 */
export async function keptReferrer(store: Store, name: string, subject: Digest, artifactType: string): Promise<Referrer | undefined> {
  const tagged = await store.resolveTag(referrersStoreTag(name, subject));
  if (tagged === undefined || !isIndexMediaType(tagged.mediaType)) return undefined;
  for (const entry of (await store.readJson(IndexSchema, tagged.digest)).manifests) {
    if (entry.artifactType !== artifactType || !isManifestMediaType(entry.mediaType) || !(await store.hasBlob(entry.digest))) continue;
    const bytes = await store.readBlob(entry.digest);
    const manifest = parseJson(ManifestSchema, bytes, `referrer ${entry.digest}`);
    // The index is only a list: the manifest itself must say what it is and whom it is about.
    if (manifest.subject?.digest !== subject || manifest.artifactType !== artifactType) continue;
    const blobs: Buffer[] = [];
    for (const blob of [manifest.config, ...manifest.layers]) blobs.push(await store.readBlob(blob.digest));
    return { manifest: bytes, blobs };
  }
  return undefined;
}

/** Keeps `referrer` of `subject` in the store, listed in the referrers index of `name`'s repository. */
export async function keepReferrer(store: Store, name: string, subject: Digest, referrer: Referrer): Promise<void> {
  const descriptor = referrerDescriptor(referrer.manifest);
  const tag = referrersStoreTag(name, subject);
  const tagged = await store.resolveTag(tag);
  const listed = tagged !== undefined && isIndexMediaType(tagged.mediaType) ? (await store.readJson(IndexSchema, tagged.digest)).manifests : [];
  const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...listed.filter((d) => d.digest !== descriptor.digest), descriptor] };
  const batch = await store.beginBatch();
  try {
    for (const blob of referrer.blobs) await batch.writeBytes(blob, 'application/octet-stream');
    await batch.writeBytes(referrer.manifest, MediaType.ociManifest);
    const indexDescriptor = await batch.writeBytes(Buffer.from(JSON.stringify(index)), MediaType.ociIndex);
    await batch.commit();
    await store.setTag(tag, indexDescriptor);
  } catch (err) {
    await batch.abort();
    throw err;
  }
}

/** Every blob an attachment reaches (indexes, manifests and what they name), each once; blobs the store lacks are left out. */
export async function attachmentBlobs(store: Store, descriptor: Descriptor): Promise<Descriptor[]> {
  const blobs = new Map<Digest, Descriptor>();
  const visit = async (d: Descriptor): Promise<void> => {
    if (blobs.has(d.digest) || !(await store.hasBlob(d.digest))) return;
    blobs.set(d.digest, d);
    if (isIndexMediaType(d.mediaType)) {
      for (const child of (await store.readJson(IndexSchema, d.digest)).manifests) await visit(child);
    } else if (isManifestMediaType(d.mediaType)) {
      const manifest = await store.readJson(ManifestSchema, d.digest);
      for (const blob of [manifest.config, ...manifest.layers]) await visit(blob);
    }
  };
  await visit(descriptor);
  return [...blobs.values()];
}

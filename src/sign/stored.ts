import { readFile } from 'node:fs/promises';
import type { Digest } from '../oci/digest.js';
import { sha256Digest } from '../oci/digest.js';
import { ManifestSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import type { RepositoryClient } from '../registry/client.js';
import type { BlobBatch, Store } from '../store/store.js';
import { UserError } from '../util/errors.js';
import { registrySignatures, signatureTag, type SignatureSource } from './cosign.js';

/*
 * Signatures kept in the store, so that they travel in bundles and an airgapped site can
 * verify: a `.sig` manifest is an ordinary OCI manifest, kept under the tag cosign gives it in
 * a registry (`<repository>:sha256-<hex>.sig`), saved and loaded like any tagged image.
 */

/** cosign's signature tag, as a store tag's end. */
const SIGNATURE_TAG = /:sha256-[0-9a-f]{64}\.sig$/;

/** Whether a tag names a signature manifest rather than an image. */
export function isSignatureTag(name: string): boolean {
  return SIGNATURE_TAG.test(name);
}

/** Signatures read from the store, or from a batch being loaded and the store under it. */
export function storedSignatures(store: Store, repository: string, tags: Map<string, Descriptor>, batch?: BlobBatch): SignatureSource {
  const read = async (digest: Digest): Promise<Buffer> => {
    if (batch === undefined || !batch.has(digest)) return store.readBlob(digest);
    const bytes = await readFile(batch.pathOf(digest));
    if (sha256Digest(bytes) !== digest) throw new UserError(`blob ${digest} does not match its digest`, { hint: 'the bundle was tampered with' });
    return bytes;
  };
  return {
    async manifest(tag) {
      const descriptor = tags.get(`${repository}:${tag}`) ?? (await store.resolveTag(`${repository}:${tag}`));
      return descriptor === undefined ? undefined : read(descriptor.digest);
    },
    async blob(descriptor, max) {
      if (descriptor.size > max) throw new UserError(`signature payload ${descriptor.digest} is ${descriptor.size} bytes, more than ${max}`, { hint: 'the signature was not made by sealbuild or cosign' });
      return read(descriptor.digest);
    },
  };
}

/** A `.sig` manifest's config and payloads are a few hundred bytes each. */
const MAX_SIGNATURE_BLOB = 64 * 1024;

/**
 * Copies the signatures the registry has for `digests` into the store, tagged as in the
 * registry; returns how many were found. Each is a small manifest whose blobs are checked
 * against their digests.
 */
export async function storeSignatures(store: Store, repo: RepositoryClient, repository: string, digests: Digest[]): Promise<number> {
  const source = registrySignatures(repo);
  let found = 0;
  for (const digest of digests) {
    const tag = signatureTag(digest);
    const bytes = await source.manifest(tag);
    if (bytes === undefined) continue;
    const manifest = parseJson(ManifestSchema, bytes, `${repository}:${tag}`);
    const batch = await store.beginBatch();
    try {
      for (const blob of [manifest.config, ...manifest.layers]) await batch.writeBytes(await source.blob(blob, MAX_SIGNATURE_BLOB), blob.mediaType);
      const descriptor = await batch.writeBytes(bytes, manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json');
      await batch.commit();
      await store.setTag(`${repository}:${tag}`, descriptor);
      found++;
    } catch (err) {
      await batch.abort();
      throw err;
    }
  }
  return found;
}

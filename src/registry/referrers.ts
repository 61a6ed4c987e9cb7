import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestHex, sha256Digest, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { IndexSchema, ManifestSchema, parseJson, type Descriptor, type ImageIndex } from '../oci/schemas.js';
import { UserError } from '../util/errors.js';
import type { RepositoryClient } from './client.js';

/*
 * OCI 1.1 referrers (image-spec manifest.md "subject", distribution-spec "Listing
 * Referrers"): an artifact is an image manifest whose `subject` names the image it is about
 * and whose `artifactType` says what it is. A registry with the referrers API indexes it when
 * it is pushed and says so with `OCI-Subject`; for one without (distribution 2.8), the
 * client keeps the list itself in an index tagged `sha256-<hex of the subject>` (the
 * "referrers tag schema"), which oras and cosign read the same way.
 */

/** The empty config artifacts carry (image-spec manifest.md "Guidance for an Empty Descriptor"). */
const EMPTY_JSON = Buffer.from('{}');
const EMPTY_DESCRIPTOR: Descriptor = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(EMPTY_JSON), size: EMPTY_JSON.length, data: EMPTY_JSON.toString('base64') } as Descriptor;

/** The referrers tag schema's tag for `subject`. */
export function referrersTag(subject: Digest): string {
  return `sha256-${digestHex(subject)}`;
}

export interface Artifact {
  artifactType: string;
  /** The one layer: the artifact's content. */
  content: Buffer;
  /** Its file name (`org.opencontainers.image.title`), which `oras pull` saves it as. */
  title: string;
  annotations: Record<string, string>;
}

/** An artifact as a registry receives it: its manifest's bytes and the blobs that manifest names. */
export interface Referrer {
  manifest: Buffer;
  blobs: Buffer[];
}

/** The artifact's manifest, in a fixed key order (the same artifact gives the same digest), and its blobs. */
export function artifactReferrer(artifact: Artifact, subject: Descriptor): Referrer {
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: artifact.artifactType,
    config: EMPTY_DESCRIPTOR,
    layers: [{ mediaType: artifact.artifactType, digest: sha256Digest(artifact.content), size: artifact.content.length, annotations: { 'org.opencontainers.image.title': artifact.title } }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: artifact.annotations,
  }));
  return { manifest, blobs: [EMPTY_JSON, artifact.content] };
}

/** The descriptor an index lists a referrer by: with its artifactType and annotations, as the referrers API answers. */
export function referrerDescriptor(manifest: Buffer): Descriptor {
  const parsed = parseJson(ManifestSchema, manifest, 'referrer manifest');
  const descriptor: Descriptor = { mediaType: MediaType.ociManifest, digest: sha256Digest(manifest), size: manifest.length };
  if (parsed.artifactType !== undefined) descriptor.artifactType = parsed.artifactType;
  if (parsed.annotations !== undefined) descriptor.annotations = parsed.annotations;
  return descriptor;
}

/** A small in-memory blob (an SBOM, a signature payload) uploaded unless the repository has it. */
export async function uploadSmallBlob(repo: RepositoryClient, bytes: Buffer): Promise<Digest> {
  const digest = sha256Digest(bytes);
  if (await repo.hasBlob(digest)) return digest;
  // uploadBlob streams from a file (it resumes uploads), so the bytes go through one.
  const dir = await mkdtemp(join(tmpdir(), 'sealbuild-blob-'));
  try {
    await writeFile(join(dir, 'blob'), bytes);
    await repo.uploadBlob(join(dir, 'blob'), digest, bytes.length);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return digest;
}

/**
 * Pushes `referrer` as a referrer of `subject` in `repo`: by digest, then into the fallback
 * index unless the registry's referrers API took it. Returns the artifact manifest's
 * descriptor and which way it was recorded.
 */
export async function attachReferrer(
  repo: RepositoryClient,
  subject: Descriptor,
  referrer: Referrer,
): Promise<{ descriptor: Descriptor; via: 'referrers API' | 'tag schema' }> {
  for (const blob of referrer.blobs) await uploadSmallBlob(repo, blob);
  const bytes = referrer.manifest;
  const descriptor = referrerDescriptor(bytes);
  const tag = referrersTag(subject.digest);
  // Attached before (a re-push): the manifest is there and the fallback index lists it.
  if ((await repo.headManifest(descriptor.digest)) !== undefined && listed(await referrersIndex(repo, tag), descriptor)) {
    return { descriptor, via: 'tag schema' };
  }
  const { subjectProcessed } = await repo.putManifest(descriptor.digest, bytes, MediaType.ociManifest);
  if (subjectProcessed) return { descriptor, via: 'referrers API' };

  const index = await referrersIndex(repo, tag);
  if (!listed(index, descriptor)) {
    await repo.putManifest(tag, Buffer.from(JSON.stringify({ ...index, manifests: [...index.manifests, descriptor] })), MediaType.ociIndex);
  }
  return { descriptor, via: 'tag schema' };
}

function listed(index: ImageIndex, descriptor: Descriptor): boolean {
  return index.manifests.some((d) => d.digest === descriptor.digest);
}

/** The referrers tag schema's index under `tag`, empty when the tag does not exist. */
async function referrersIndex(repo: RepositoryClient, tag: string): Promise<ImageIndex> {
  if ((await repo.headManifest(tag)) === undefined) return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  const existing = await repo.getManifest(tag);
  if (existing.mediaType !== MediaType.ociIndex) {
    throw new UserError(`${repo.http.domain}/${repo.path}:${tag} is not a referrers index (${existing.mediaType})`, { hint: 'the tag schema reserves sha256-<hex> tags for referrers: remove that tag' });
  }
  return parseJson(IndexSchema, existing.bytes, `${repo.http.domain}/${repo.path}:${tag}`);
}

import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { digestHex, sha256Digest, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import { ManifestSchema, checkedJson, parseJson, type Descriptor, type Manifest } from '../oci/schemas.js';
import type { RepositoryClient } from '../registry/client.js';
import { uploadSmallBlob } from '../registry/referrers.js';
import { UserError } from '../util/errors.js';
import { VERSION } from '../version.js';

/*
 * Signatures in cosign's layout (sigstore/cosign specs/SIGNATURE_SPEC.md), which
 * containers/image verifies with a `sigstoreSigned` policy when the registry has
 * `use-sigstore-attachments: true` (containers/image signature/internal/sigstore_payload.go
 * parses the payload strictly: exactly critical.{identity,image,type}).
 *
 * - the payload is a "simple signing" JSON document naming the repository and the digest;
 * - the signature is ECDSA P-256 over SHA-256 of the payload, DER, base64, in the layer's
 *   `dev.cosignproject.cosign/signature` annotation;
 * - one OCI manifest holds one layer per signature, tagged `sha256-<hex>.sig` in the
 *   image's own repository.
 */
export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const PAYLOAD_TYPE = 'cosign container image signature';
/** A payload names a repository and a digest: anything larger is not one. */
const MAX_PAYLOAD_BYTES = 64 * 1024;

/** The tag cosign and containers/image look up for the signatures of `digest`. */
export function signatureTag(digest: Digest): string {
  return `sha256-${digestHex(digest)}.sig`;
}

/** `repository` is `host/path` without tag, as cosign writes it (policies match it with matchRepository). */
export function simpleSigningPayload(repository: string, digest: Digest): Buffer {
  return Buffer.from(JSON.stringify({
    critical: { identity: { 'docker-reference': repository }, image: { 'docker-manifest-digest': digest }, type: PAYLOAD_TYPE },
    optional: { creator: `sealbuild ${VERSION}` },
  }));
}

/** Where signatures are read from: a registry, or a store a bundle was loaded into. */
export interface SignatureSource {
  /** The manifest tagged `tag`, or undefined when there is none. */
  manifest(tag: string): Promise<Buffer | undefined>;
  /** A blob's bytes, verified against its digest, at most `max` bytes. */
  blob(descriptor: Descriptor, max: number): Promise<Buffer>;
}

export function registrySignatures(repo: RepositoryClient): SignatureSource {
  return {
    async manifest(tag) {
      if ((await repo.headManifest(tag)) === undefined) return undefined;
      return (await repo.getManifest(tag)).bytes;
    },
    async blob(descriptor, max) {
      if (descriptor.size > max) throw new UserError(`signature payload ${descriptor.digest} is ${descriptor.size} bytes, more than ${max}`, { hint: 'the signature was not made by sealbuild or cosign' });
      const chunks: Buffer[] = [];
      for await (const chunk of repo.openBlob(descriptor.digest, descriptor.size)) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      if (sha256Digest(bytes) !== descriptor.digest) throw new UserError(`signature payload ${descriptor.digest} does not match its digest`, { hint: 'the registry altered it' });
      return bytes;
    },
  };
}

interface Signed {
  payload: Buffer;
  signature: string;
}

/** Every simple-signing payload and signature listed in a `.sig` manifest. */
async function readSignatures(source: SignatureSource, digest: Digest, where: string): Promise<{ manifest: Manifest; signed: Signed[] } | undefined> {
  const bytes = await source.manifest(signatureTag(digest));
  if (bytes === undefined) return undefined;
  const manifest = parseJson(ManifestSchema, bytes, `${where}: signature manifest`);
  const signed: Signed[] = [];
  for (const layer of manifest.layers) {
    const signature = layer.annotations?.[SIGNATURE_ANNOTATION];
    if (layer.mediaType !== SIMPLE_SIGNING || signature === undefined) continue;
    signed.push({ payload: await source.blob(layer, MAX_PAYLOAD_BYTES), signature });
  }
  return { manifest, signed };
}

/** What verification reads of a simple signing payload; the values are compared, not trusted. */
const PayloadSchema = z.looseObject({
  critical: z.looseObject({
    identity: z.looseObject({ 'docker-reference': z.unknown().optional() }).optional(),
    image: z.looseObject({ 'docker-manifest-digest': z.unknown().optional() }).optional(),
    type: z.unknown().optional(),
  }).optional(),
});

/** Why a payload does not sign `digest` in `repository` with `key`, or undefined when it does. */
function rejection(entry: Signed, key: KeyObject, repository: string, digest: Digest): string | undefined {
  if (!verify('sha256', entry.payload, key, Buffer.from(entry.signature, 'base64'))) return 'the signature does not verify with the key';
  const payload = checkedJson(PayloadSchema, entry.payload);
  if (payload === undefined) return 'the payload is not a simple signing JSON document';
  const critical = payload.critical;
  if (critical?.type !== PAYLOAD_TYPE) return `the payload's type is not "${PAYLOAD_TYPE}"`;
  if (critical.image?.['docker-manifest-digest'] !== digest) return `it signs ${String(critical.image?.['docker-manifest-digest'])}, not ${digest}`;
  if (critical.identity?.['docker-reference'] !== repository) return `it names ${String(critical.identity?.['docker-reference'])}, not ${repository}`;
  return undefined;
}

/**
 * Refuses unless a signature of `digest` by `key` names `repository`: every signature is
 * checked cryptographically first, then what it says.
 */
export async function verifySignature(source: SignatureSource, repository: string, digest: Digest, key: KeyObject, keyPath: string): Promise<void> {
  const where = `${repository}@${digest}`;
  const found = await readSignatures(source, digest, where);
  if (found === undefined || found.signed.length === 0) {
    throw new UserError(`${where} is not signed (no ${signatureTag(digest)})`, { hint: 'sign it with `sealbuild sign` or `push --sign-key`, or drop --verify-key' });
  }
  const reasons = found.signed.map((entry) => rejection(entry, key, repository, digest));
  if (reasons.includes(undefined)) return;
  throw new UserError(`${where}: no signature verifies with ${keyPath} (${[...new Set(reasons)].join('; ')})`, { hint: 'the image or its signature was changed, or it was signed with another key' });
}

/**
 * Signs `digest` in the registry: adds this key's signature to the `.sig` manifest (other
 * keys' signatures stay; one this key already made is not added twice). Returns the tag.
 */
export async function signImage(repo: RepositoryClient, repository: string, digest: Digest, key: KeyObject): Promise<string> {
  const tag = signatureTag(digest);
  const source = registrySignatures(repo);
  const existing = await readSignatures(source, digest, `${repository}@${digest}`);
  const publicKey = createPublicKey(key);
  if (existing?.signed.some((entry) => rejection(entry, publicKey, repository, digest) === undefined)) return tag;

  const payload = simpleSigningPayload(repository, digest);
  const signature = sign('sha256', payload, key).toString('base64');
  const layer: Descriptor = { mediaType: SIMPLE_SIGNING, digest: await uploadSmallBlob(repo, payload), size: payload.length, annotations: { [SIGNATURE_ANNOTATION]: signature } };
  const layers = [...(existing?.manifest.layers ?? []), layer];
  // The config lists the payloads as the layers' diff_ids, as an image config would.
  const config = Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: await uploadSmallBlob(repo, config), size: config.length },
    layers,
  };
  await repo.putManifest(tag, Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
  return tag;
}

import { createReadStream } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, type Header } from 'tar-stream';
import { decompressFile, detectCompression } from '../layer/decompress.js';
import { checkLayer, sniffLayer, type SniffedLayer } from '../layer/layer-reader.js';
import { teeInspect } from '../layer/tee.js';
import { z } from 'zod';
import { digestHex, isDigest, sha256Digest, type Digest } from '../oci/digest.js';
import { Annotation, MediaType, isIndexMediaType, isManifestMediaType, layerCompression } from '../oci/media-types.js';
import { normalizeReference } from '../oci/reference.js';
import { ImageConfigSchema, IndexSchema, MAX_INDEX_CHILDREN, ManifestSchema, OciLayoutSchema, parseJson, type Descriptor, type ImageIndex, type Manifest } from '../oci/schemas.js';
import { BODY_CAPS } from '../registry/body.js';
import { UserError } from '../util/errors.js';
import { readSmallFile } from '../util/read-small-file.js';
import { CHECKSUMS_FILE } from './archive.js';
import { isAttachmentTag } from './attachments.js';
import { withBuildLease } from './gc.js';
import type { BlobBatch, Store } from './store.js';

/** index.json, oci-layout and the checksums are small; a bound keeps a hostile file from filling memory. */
const MAX_SMALL_MEMBER = 64 * 1024 * 1024;
const BLOB_MEMBER = /^blobs\/sha256\/([a-f0-9]{64})$/;
const SUM_LINE = /^([a-f0-9]{64}) [ *](.+)$/;

export interface LoadedImage {
  name: string;
  descriptor: Descriptor;
}

export interface LoadResult {
  images: LoadedImage[];
  /** Signatures and SBOM referrers the bundle carried beside the images, kept under their tags. */
  attachments: LoadedImage[];
  /** Blobs the bundle held that the store did not. */
  newBlobs: number;
}

/**
 * Imports a bundle written by `save` (an OCI layout in a tar, compressed or not, with
 * SHA256SUMS first). One streaming pass: every member is checked against its checksum as it
 * arrives, blobs stream into a batch, and only when the whole archive was read, every listed
 * member seen and every image found complete does the batch enter the store and the tags
 * move. Any failure leaves the store exactly as it was. Holds a writer's lease, so prune
 * waits: the batch is in ROOT/tmp until it commits, and its blobs are untagged until the tags move.
 */
export function loadBundle(store: Store, file: string, check?: LoadCheck): Promise<LoadResult> {
  return withBuildLease(store, () => load(store, file, check));
}

/**
 * The archive does not start with SHA256SUMS, so it is not a bundle `save` wrote (nothing was
 * stored): it may be a docker-archive or an oci-archive another tool wrote (airgap/load-image-archive.ts).
 */
export class NotABundleError extends UserError {}

/** Runs on the complete bundle before anything enters the store (`load --verify-key`): throwing refuses it. */
export type LoadCheck = (loaded: Omit<LoadResult, 'newBlobs'>, batch: BlobBatch) => Promise<void>;

async function load(store: Store, file: string, check?: LoadCheck): Promise<LoadResult> {
  const isDir = await stat(file).then((s) => s.isDirectory(), () => false);
  const batch = await store.beginBatch();
  try {
    const sniffed: Sniffed = new Map();
    const { index, blobs } = isDir ? await readLayoutDir(file, batch, sniffed) : await readBundle(file, batch, sniffed);
    const images: LoadedImage[] = [];
    const since = index.annotations?.[Annotation.bundleSince];
    const attachments = bundleAttachments(index, file);
    for (const attachment of attachments) await requirePresent(batch, attachment.descriptor, { file, since: undefined, image: attachment.name, sniffed });
    for (const entry of index.manifests) {
      const name = entry.annotations?.[Annotation.refName];
      await requirePresent(batch, entry, { file, since, image: name ?? entry.digest, sniffed });
      if (name === undefined) continue;
      const { [Annotation.refName]: _, ...rest } = entry.annotations ?? {};
      const descriptor: Descriptor = { ...entry };
      if (Object.keys(rest).length > 0) descriptor.annotations = rest;
      else delete descriptor.annotations;
      images.push({ name: tagName(name, file), descriptor });
    }
    if (images.length === 0) throw new UserError(`${file}: index.json names no image`, { hint: 'write bundles with `sealbuild save REF... -o FILE`' });
    const newBlobs = blobs.filter((d) => batch.has(d)).length;
    await check?.({ images, attachments }, batch);
    await batch.commit();
    for (const image of [...images, ...attachments]) await store.setTag(image.name, image.descriptor);
    return { images, attachments, newBlobs };
  } catch (err) {
    await batch.abort();
    if (err instanceof NotABundleError) throw err;
    if (err instanceof UserError) throw new UserError(`cannot load ${file}: ${err.message.replace(`${file}: `, '')}`, { hint: err.hint ?? 'the bundle is corrupt, truncated or was tampered with; nothing was imported' });
    throw err;
  }
}

const AttachmentsSchema = z.array(z.object({ name: z.string(), mediaType: z.string(), digest: z.string().refine(isDigest).transform((d) => d as Digest), size: z.number().int().nonnegative() })).max(MAX_INDEX_CHILDREN);

/** The attachments index.json lists in its annotation (save), each only under a signature or referrers tag. */
function bundleAttachments(index: ImageIndex, file: string): LoadedImage[] {
  const text = index.annotations?.[Annotation.bundleAttachments];
  if (text === undefined) return [];
  let listed: z.infer<typeof AttachmentsSchema>;
  try {
    listed = AttachmentsSchema.parse(JSON.parse(text));
  } catch {
    throw new UserError(`${file}: index.json's ${Annotation.bundleAttachments} is not a list of {name, mediaType, digest, size}`, { hint: 'the bundle was not written by sealbuild save' });
  }
  return listed.map(({ name, ...descriptor }) => {
    const tag = tagName(name, file);
    // A bundle must not move an image's tag through its attachments.
    if (!isAttachmentTag(tag)) throw new UserError(`${file}: attachment "${name}" is not a signature or referrers tag (sha256-<hex>[.sig])`, { hint: 'the bundle was not written by sealbuild save' });
    return { name: tag, descriptor };
  });
}

function tagName(name: string, file: string): string {
  try {
    return normalizeReference(name);
  } catch {
    throw new UserError(`${file}: index.json names an image "${name}" that is not a valid reference`, { hint: 'the bundle was not written by sealbuild save' });
  }
}

/**
 * An OCI layout directory (what `save --format oci-dir` writes, or skopeo's `oci:`): it has
 * no SHA256SUMS, but every blob an image reaches is named by its digest and size, so each is
 * checked as it streams into the batch. Blobs no image reaches are not read.
 */
async function readLayoutDir(dir: string, batch: BlobBatch, sniffed: Sniffed): Promise<{ index: ImageIndex; blobs: Digest[] }> {
  const small = async (name: string): Promise<Buffer> => readDocument(join(dir, name), BODY_CAPS.manifest, join(dir, name)).catch((err: NodeJS.ErrnoException) => {
    if (err instanceof UserError) throw err;
    throw new UserError(`${dir}: no ${name} (${err.code ?? err.message})`, { hint: 'give an OCI layout directory (sealbuild save --format oci-dir) or an archive written by `sealbuild save`' });
  });
  parseJson(OciLayoutSchema, await small('oci-layout'), `${join(dir, 'oci-layout')}`);
  const index = parseJson(IndexSchema, await small('index.json'), `${join(dir, 'index.json')}`);
  const blobs: Digest[] = [];
  const copy = async (d: Descriptor): Promise<void> => {
    if (blobs.includes(d.digest)) return;
    blobs.push(d.digest);
    if (!(await batch.hasBlob(d.digest))) {
      const path = join(dir, 'blobs', 'sha256', digestHex(d.digest));
      await access(path).catch(() => {
        throw new UserError(`${dir}: blob ${d.digest} (${d.mediaType}) is referenced but not in the layout`, { hint: 'the layout is incomplete; save it again' });
      });
      try {
        await writeSniffed(batch, createReadStream(path), { digest: d.digest, size: d.size }, dir, sniffed);
      } catch (err) {
        if (err instanceof UserError && /does not match its descriptor/.test(err.message)) throw new UserError(`${dir}: blobs/sha256/${digestHex(d.digest)} does not match its digest or size`);
        throw err;
      }
    }
    if (isIndexMediaType(d.mediaType)) {
      const what = `${dir}: index ${d.digest}`;
      for (const child of parseJson(IndexSchema, await readDocument(batch.pathOf(d.digest), BODY_CAPS.manifest, what), what).manifests) await copy(child);
    } else if (isManifestMediaType(d.mediaType)) {
      const what = `${dir}: manifest ${d.digest}`;
      const manifest = parseJson(ManifestSchema, await readDocument(batch.pathOf(d.digest), BODY_CAPS.manifest, what), what);
      for (const blob of [manifest.config, ...manifest.layers]) await copy(blob);
    }
  };
  for (const entry of [...index.manifests, ...bundleAttachments(index, dir).map((a) => a.descriptor)]) await copy(entry);
  return { index, blobs };
}

/** Streams the archive once: checksums first, every other member checked against them. */
async function readBundle(file: string, batch: BlobBatch, sniffed: Sniffed): Promise<{ index: ImageIndex; blobs: Digest[] }> {
  const head = Buffer.alloc(6);
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${file}: cannot open: ${err.code ?? err.message}`, { hint: 'give the bundle written by `sealbuild save` with -i FILE' });
  });
  const { bytesRead } = await handle.read(head, 0, head.length, 0).finally(() => handle.close());
  const input = decompressFile(file, detectCompression(head.subarray(0, bytesRead)));

  let sums: Map<string, Digest> | undefined;
  const seen = new Set<string>();
  const small = new Map<string, Buffer>();
  const blobs: Digest[] = [];
  const member = async (header: Header, body: Readable): Promise<void> => {
    const name = header.name.replace(/^\.\//, '');
    if (header.type === 'directory') {
      body.resume();
      return;
    }
    if (header.type !== 'file') throw new UserError(`${file}: member ${name} is a ${header.type ?? 'special file'}, not a file`, { hint: 'the bundle was not written by sealbuild save' });
    if (name === CHECKSUMS_FILE && sums === undefined && seen.size === 0) {
      sums = parseSums(await readSmall(body, name, file), file);
      return;
    }
    if (sums === undefined) throw new NotABundleError(`${file}: ${name} comes before ${CHECKSUMS_FILE}`);
    const expected = sums.get(name);
    if (expected === undefined) throw new UserError(`${file}: member ${name} is not listed in ${CHECKSUMS_FILE}`);
    if (seen.has(name)) throw new UserError(`${file}: member ${name} appears twice`);
    seen.add(name);
    const blob = BLOB_MEMBER.exec(name);
    if (blob) {
      blobs.push(expected);
      if (`sha256:${blob[1]}` !== expected) throw new UserError(`${file}: ${CHECKSUMS_FILE} gives ${name} another digest (${expected})`);
      try {
        await writeSniffed(batch, body, { digest: expected, size: header.size ?? 0 }, file, sniffed);
      } catch (err) {
        if (err instanceof UserError && /does not match its descriptor/.test(err.message)) throw new UserError(`${file}: member ${name} does not match its checksum`);
        throw err;
      }
      return;
    }
    const bytes = await readSmall(body, name, file);
    if (sha256Digest(bytes) !== expected) throw new UserError(`${file}: member ${name} does not match its checksum`);
    small.set(name, bytes);
  };

  const reader = tarExtract();
  reader.on('entry', (header, body, next) => {
    member(header, body as unknown as Readable).then(
      () => next(),
      (err: unknown) => reader.destroy(err as Error),
    );
  });
  // tar-stream's Extract is a streamx stream: Node's pipeline drives it, its types just do not say so.
  await pipeline(input, reader as unknown as NodeJS.WritableStream).catch((err: unknown) => {
    if (err instanceof UserError) throw err;
    throw new UserError(`${file}: ${(err as Error).message}`);
  });

  if (sums === undefined) throw new NotABundleError(`${file}: no ${CHECKSUMS_FILE} in the archive`);
  const absent = [...sums.keys()].filter((name) => !seen.has(name));
  if (absent.length > 0) throw new UserError(`${file}: truncated: ${absent.length} member(s) listed in ${CHECKSUMS_FILE} are missing (first: ${absent[0]})`);
  const layout = small.get('oci-layout');
  const indexBytes = small.get('index.json');
  if (layout === undefined || indexBytes === undefined) throw new UserError(`${file}: no oci-layout or index.json`, { hint: 'the archive is not an OCI layout' });
  parseJson(OciLayoutSchema, layout, `${file}: oci-layout`);
  return { index: parseJson(IndexSchema, indexBytes, `${file}: index.json`), blobs };
}

/** What each blob this load read is when read as a layer, by digest (sniffLayer). */
type Sniffed = Map<Digest, SniffedLayer>;

/**
 * Streams a blob into the batch and, in the same pass, reads it as a layer would be read: which
 * blobs are layers, and which diff_ids they must have, is known only once the configs are read,
 * and an archive may hold them in any order. checkLayers judges the findings.
 */
async function writeSniffed(batch: BlobBatch, source: Readable, expected: { digest: Digest; size: number }, file: string, sniffed: Sniffed): Promise<void> {
  const { stream, result } = teeInspect((copy) => sniffLayer(copy, { digest: expected.digest, owner: file }));
  pipeline(source, stream).catch(() => {});
  // Both settle before the batch may be aborted: the write must not go on into a removed dir.
  const [written, read] = await Promise.allSettled([batch.writeStream(stream, 'application/octet-stream', { expected }), result]);
  if (written.status === 'rejected') throw written.reason;
  if (read.status === 'rejected') throw read.reason;
  sniffed.set(expected.digest, read.value);
}

function parseSums(bytes: Buffer, file: string): Map<string, Digest> {
  const sums = new Map<string, Digest>();
  for (const [i, line] of bytes.toString('utf8').split('\n').entries()) {
    if (line === '') continue;
    const match = SUM_LINE.exec(line);
    if (!match) throw new UserError(`${file}: ${CHECKSUMS_FILE} line ${i + 1} is not "HEX  NAME"`);
    sums.set(match[2]!, `sha256:${match[1]!}`);
  }
  return sums;
}

async function readSmall(body: Readable, name: string, file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_SMALL_MEMBER) throw new UserError(`${file}: member ${name} is larger than ${MAX_SMALL_MEMBER} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** What requirePresent checks an image against: the bundle, and what its blobs were found to be. */
interface Presence {
  file: string;
  /** A delta bundle's base (`save --since`), whose blobs the store must hold. */
  since: string | undefined;
  /** The image's name in index.json, for messages. */
  image: string;
  sniffed: Sniffed;
}

/**
 * Every blob `descriptor` reaches (child manifests, configs, layers) is in the batch or the
 * store, and every layer is what its config says (checkLayers): a bundle must never leave a tag
 * pointing at an image that cannot be read, or at one whose config lies.
 */
async function requirePresent(batch: BlobBatch, descriptor: Descriptor, presence: Presence): Promise<void> {
  const { file, since } = presence;
  const need = async (d: Descriptor): Promise<void> => {
    if (await batch.hasBlob(d.digest)) return;
    // A delta bundle (`save --since`) leaves out its base's blobs: the base must be loaded first.
    if (since !== undefined) throw new UserError(`${file}: a delta bundle that needs ${since} in the store (blob ${d.digest} is missing)`, { hint: 'load the bundle of that image first, then this one' });
    throw new UserError(`${file}: blob ${d.digest} (${d.mediaType}) is referenced but not in the bundle`, { hint: 'the bundle is incomplete; save it again' });
  };
  await need(descriptor);
  // A child manifest may be one the base already had: pathOf reads it from the store then.
  const bytes = async (what: string) => readDocument(batch.pathOf(descriptor.digest), BODY_CAPS.manifest, what);
  if (isIndexMediaType(descriptor.mediaType)) {
    const what = `${file}: index ${descriptor.digest}`;
    const index = parseJson(IndexSchema, await bytes(what), what);
    for (const child of index.manifests) await requirePresent(batch, child, presence);
  } else if (isManifestMediaType(descriptor.mediaType)) {
    const what = `${file}: manifest ${descriptor.digest}`;
    const manifest = parseJson(ManifestSchema, await bytes(what), what);
    for (const blob of [manifest.config, ...manifest.layers]) await need(blob);
    await checkLayers(batch, manifest, presence);
  }
}

/**
 * Each layer of an image is the tar its config's diff_id names (#19 point 4). A layer this load
 * read is judged by what writeSniffed found as it streamed past; one the store held already is
 * read back from the store, since this config may say it is something else.
 */
async function checkLayers(batch: BlobBatch, manifest: Manifest, { file, image, sniffed }: Presence): Promise<void> {
  const { config } = manifest;
  if (config.mediaType !== MediaType.ociConfig && config.mediaType !== MediaType.dockerConfig) return;
  const what = `${file}: config of ${image}`;
  const diffIds = parseJson(ImageConfigSchema, await readDocument(batch.pathOf(config.digest), BODY_CAPS.config, what), what).rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new UserError(`${what} lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`, { hint: 'the image is malformed or hostile; nothing was imported' });
  }
  for (const [i, layer] of manifest.layers.entries()) {
    const diffId = diffIds[i]!;
    const label = `${file}: image ${image}: layer ${layer.digest}`;
    const compression = layerCompression(layer.mediaType);
    const found = sniffed.get(layer.digest);
    if (found === undefined) {
      await checkLayer(createReadStream(batch.pathOf(layer.digest)), { digest: layer.digest, diffId, owner: `${file}: image ${image}` }, compression);
    } else if (found.error) {
      throw found.error;
    } else if (found.compression !== compression) {
      throw new UserError(`${label}: its bytes are ${found.compression === 'none' ? 'not compressed' : found.compression}, but its media type ${layer.mediaType} says ${compression === 'none' ? 'not compressed' : compression}`, { hint: 'the image is malformed or hostile; nothing was imported' });
    } else if (found.diffId !== diffId) {
      throw new UserError(`${label}: its content is ${found.diffId}, but the image config says ${diffId}`, { hint: 'the image config lies about its layers (rootfs.diff_ids); nothing was imported' });
    }
  }
}

/** A manifest, index or config of the bundle, refused above the size a pull accepts (BODY_CAPS). */
function readDocument(path: string, max: number, what: string): Promise<Buffer> {
  return readSmallFile(path, max, what, 'the image is malformed or hostile; nothing was imported');
}

import { constants, createReadStream, createWriteStream } from 'node:fs';
import { access, copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as createPack, type Pack } from 'tar-stream';
import { filterThrough } from '../layer/filter-process.js';
import { parallelGzip } from '../layer/gzip-parallel.js';
import { HashingStream, digestHex, sha256Digest, type Digest } from '../oci/digest.js';
import { Annotation, MediaType } from '../oci/media-types.js';
import { hostPlatform, type Platform } from '../oci/platform.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { Descriptor, ImageIndex } from '../oci/schemas.js';
import { tempPathFor, writeFileAtomic } from '../util/fs-atomic.js';
import { UserError } from '../util/errors.js';
import { attachmentBlobs } from './attachments.js';
import { readTarget, requireComplete, selectPlatform } from './image.js';
import type { Store } from './store.js';

export type SaveFormat = 'oci-archive' | 'oci-dir' | 'docker-archive';
export const SAVE_FORMATS: readonly SaveFormat[] = ['oci-archive', 'oci-dir', 'docker-archive'];

/** How a saved tar is compressed as a whole (the blobs inside keep their own bytes). */
export type ArchiveCompression = 'zstd' | 'gzip' | 'none';
export const ARCHIVE_COMPRESSIONS: readonly ArchiveCompression[] = ['zstd', 'gzip', 'none'];

/** The compression a file name asks for: `.tar.zst`/`.tzst` zstd, `.tar.gz`/`.tgz` gzip, else none. */
export function compressionForName(path: string): ArchiveCompression {
  if (/\.(tar\.zst|tzst|tar\.zstd)$/i.test(path)) return 'zstd';
  if (/\.(tar\.gz|tgz)$/i.test(path)) return 'gzip';
  return 'none';
}

/**
 * `sha256sum` format (`HEX  NAME` per line) over every other member, written first so a
 * reader can check each member as it streams past, and `sha256sum -c` works on the
 * extracted tree. Layout readers (skopeo, umoci) ignore files they do not know.
 */
export const CHECKSUMS_FILE = 'SHA256SUMS';

export interface SavedImage {
  name: string;
  descriptor: Descriptor;
}

/** Every blob of an image the store holds (index, manifests, configs, layers), each once, in a stable order. */
export async function imageBlobs(store: Store, descriptor: Descriptor): Promise<Descriptor[]> {
  const target = await readTarget(store, descriptor);
  const blobs = new Map<Digest, Descriptor>([[descriptor.digest, descriptor]]);
  for (const image of target.images) {
    blobs.set(image.descriptor.digest, image.descriptor);
    blobs.set(image.manifest.config.digest, image.manifest.config);
    for (const layer of image.manifest.layers) blobs.set(layer.digest, layer);
  }
  return [...blobs.values()];
}

function layoutIndex(images: SavedImage[], since?: SavedImage, attachments: SavedImage[] = []): Buffer {
  const annotations: Record<string, string> = {};
  if (since) annotations[Annotation.bundleSince] = `${since.name}@${since.descriptor.digest}`;
  // Not in `manifests`: readers that take a layout's only image (skopeo's nameless oci-archive:FILE)
  // must find just the images. Layout readers ignore blobs nothing lists (image-layout.md allows them).
  if (attachments.length > 0) annotations[Annotation.bundleAttachments] = JSON.stringify(attachments.map(({ name, descriptor }) => ({ name, mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size })));
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: images.map(({ name, descriptor }) => ({ ...descriptor, annotations: { ...descriptor.annotations, [Annotation.refName]: name } })),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  return Buffer.from(`${JSON.stringify(index, null, 2)}\n`);
}

const OCI_LAYOUT = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));

/**
 * Writes images as a standalone OCI layout: a directory, or a tar of one (oci-archive, as
 * skopeo's `oci-archive:` reads). Blobs stream from the store; the output appears under its
 * final name only once complete. Returns what was saved: one platform's manifest for an
 * image saved for one platform.
 */
export async function saveImages(store: Store, images: SavedImage[], output: string, format: SaveFormat, options: { compression?: ArchiveCompression; platform?: Platform; since?: SavedImage; attachments?: SavedImage[] } = {}): Promise<SavedImage[]> {
  const compression = options.compression ?? 'none';
  if (format === 'docker-archive') {
    await mkdir(dirname(output), { recursive: true });
    return saveDockerArchive(store, images, output, compression, options.platform);
  }
  const { platform } = options;
  const saved = platform === undefined ? images : await Promise.all(images.map(async (image) => onePlatform(store, image, platform)));
  const blobs = new Map<Digest, Descriptor>();
  for (const image of saved) {
    requireComplete(await readTarget(store, image.descriptor), image.name);
    for (const blob of await imageBlobs(store, image.descriptor)) blobs.set(blob.digest, blob);
  }
  // Signatures and SBOMs (small documents about the images) go along as they are, whatever the platform.
  const attachments = options.attachments ?? [];
  for (const attachment of attachments) for (const blob of await attachmentBlobs(store, attachment.descriptor)) blobs.set(blob.digest, blob);
  // A delta holds what the far side's copy of `since` does not: `load` takes the rest from its store.
  if (options.since) for (const blob of await imageBlobs(store, options.since.descriptor)) blobs.delete(blob.digest);
  await mkdir(dirname(output), { recursive: true });
  if (format === 'oci-dir') await saveDir(store, [...blobs.values()], layoutIndex(saved, undefined, attachments), output);
  else await saveTar(store, [...blobs.values()], layoutIndex(saved, options.since, attachments), output, compression);
  return saved;
}

/**
 * The image as its `platform` manifest alone, named as the whole was: what `docker save
 * --platform` writes, so that a per-architecture bundle holds one architecture's blobs.
 */
async function onePlatform(store: Store, image: SavedImage, platform: Platform): Promise<SavedImage> {
  return { name: image.name, descriptor: selectPlatform(await readTarget(store, image.descriptor), platform, image.name).descriptor };
}

async function saveDir(store: Store, blobs: Descriptor[], index: Buffer, output: string): Promise<void> {
  await mkdir(join(output, 'blobs', 'sha256'), { recursive: true });
  for (const blob of blobs) {
    const target = join(output, 'blobs', 'sha256', digestHex(blob.digest));
    if (await access(target).then(() => true, () => false)) continue;
    // A reflink where the filesystem can (instant, shared extents), else a copy; never a
    // hardlink, which would let an edit of the output corrupt the store.
    const tmp = tempPathFor(target);
    await copyFile(store.blobPath(blob.digest), tmp, constants.COPYFILE_FICLONE);
    await rename(tmp, target);
  }
  await writeFileAtomic(join(output, 'oci-layout'), OCI_LAYOUT);
  await writeFileAtomic(join(output, 'index.json'), index);
}

async function saveTar(store: Store, blobs: Descriptor[], index: Buffer, output: string, compression: ArchiveCompression): Promise<void> {
  const sums = [
    [sha256Digest(OCI_LAYOUT), 'oci-layout'],
    [sha256Digest(index), 'index.json'],
    ...blobs.map((b) => [b.digest, blobName(b.digest)]),
  ].map(([digest, name]) => `${digestHex(digest as Digest)}  ${name}\n`);
  await writeTar(output, compression, async (pack) => {
    await addBuffer(pack, CHECKSUMS_FILE, Buffer.from(sums.join('')));
    await addBuffer(pack, 'oci-layout', OCI_LAYOUT);
    await addBuffer(pack, 'index.json', index);
    for (const dir of ['blobs/', 'blobs/sha256/']) await addDirectory(pack, dir);
    for (const blob of blobs) await addBlob(store, pack, blobName(blob.digest), blob);
  });
}

/** One entry of a docker-archive's manifest.json, as `docker save` writes it. */
interface DockerArchiveEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

/**
 * `docker save`'s format (manifest.json naming a config and its layer files), read by
 * `docker load`, `ctr images import`, k3s's agent/images and skopeo's `docker-archive:`. One
 * platform per image: the format has no index. Files are named `blobs/sha256/HEX` as docker
 * 25+ writes them, and keep the stored (compressed) bytes: every one of those readers
 * detects gzip layers, and the sizes are known up front so nothing is decompressed twice.
 */
async function saveDockerArchive(store: Store, images: SavedImage[], output: string, compression: ArchiveCompression, platform: Platform | undefined): Promise<SavedImage[]> {
  const entries = new Map<Digest, DockerArchiveEntry>();
  const blobs = new Map<Digest, Descriptor>();
  const saved: SavedImage[] = [];
  for (const { name, descriptor } of images) {
    const target = await readTarget(store, descriptor);
    // Without --platform, a single-platform image is taken whatever its platform; an index gives this machine's.
    const image = platform === undefined && target.images.length === 1 && !target.index ? target.images[0]! : selectPlatform(target, platform ?? hostPlatform(), name);
    saved.push({ name, descriptor: image.descriptor });
    const { config, layers } = image.manifest;
    const entry = entries.get(config.digest) ?? { Config: blobName(config.digest), RepoTags: [], Layers: layers.map((l) => blobName(l.digest)) };
    const ref = parseReference(name);
    if (ref.tag !== undefined) entry.RepoTags.push(`${familiarName(ref)}:${ref.tag}`);
    entries.set(config.digest, entry);
    for (const blob of [config, ...layers]) blobs.set(blob.digest, blob);
  }
  const manifest = Buffer.from(`${JSON.stringify([...entries.values()])}\n`);
  await writeTar(output, compression, async (pack) => {
    await addBuffer(pack, 'manifest.json', manifest);
    for (const dir of ['blobs/', 'blobs/sha256/']) await addDirectory(pack, dir);
    for (const blob of blobs.values()) await addBlob(store, pack, blobName(blob.digest), blob);
  });
  return saved;
}

function blobName(digest: Digest): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/** Every member gets this mtime, so saving the same images twice gives the same bytes. */
const MTIME = new Date(0);

/**
 * Streams a tar built by `fill` through the compressor into `output`: the tar never exists
 * whole in memory or on disk, and the file appears under its name only once complete.
 */
async function writeTar(output: string, compression: ArchiveCompression, fill: (pack: Pack) => Promise<void>): Promise<void> {
  const tmp = tempPathFor(output);
  const pack = createPack();
  const out = createWriteStream(tmp, { flags: 'wx' });
  // tar-stream's Pack is a streamx stream: Node streams read it, its types just do not say so.
  const writing = pipeline(compress(pack as unknown as Readable, compression), out);
  try {
    await fill(pack);
    pack.finalize();
    await writing;
    await rename(tmp, output);
  } catch (err) {
    pack.destroy(err as Error);
    // When the compressor fails (not installed, say), filling the tar only sees its entries
    // destroyed: the compressor's own error is the one that says what happened.
    const writeError = await writing.then(() => undefined, (e: unknown) => e);
    await rm(tmp, { force: true });
    if (err instanceof UserError) throw err;
    if (writeError instanceof UserError) throw writeError;
    throw new UserError(`cannot write ${output}: ${(err as Error).message}`, { hint: 'check the path and free space' });
  }
}

function compress(tar: Readable, compression: ArchiveCompression): Readable {
  switch (compression) {
    case 'none':
      return tar;
    // Fixed-size gzip members on every core: the same bytes on any machine (gzip-parallel.ts).
    case 'gzip':
      return Readable.from(parallelGzip(tar), { objectMode: false });
    case 'zstd':
      return filterThrough(tar, {
        command: 'zstd',
        args: ['-3', '-T0', '-q', '-c', '-'],
        aptPackage: 'zstd',
        purpose: 'compress the archive with zstd',
        failureHint: 'check the zstd installation (zstd --version) and free disk space',
      });
  }
}

function addBuffer(pack: Pack, name: string, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => pack.entry({ name, mode: 0o644, mtime: MTIME }, data, (err) => (err ? reject(err) : resolve())));
}

function addDirectory(pack: Pack, name: string): Promise<void> {
  return new Promise((resolve, reject) => pack.entry({ name, type: 'directory', mode: 0o755, mtime: MTIME }, (err) => (err ? reject(err) : resolve())));
}

/**
 * Streams a store blob into the tar, hashing it on the way: a blob that rotted on disk
 * fails the save instead of shipping a bundle that `load` would refuse far from here.
 */
async function addBlob(store: Store, pack: Pack, name: string, blob: Descriptor): Promise<void> {
  const hasher = new HashingStream();
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry({ name, size: blob.size, mode: 0o644, mtime: MTIME }, (e) => (e ? reject(e) : resolve()));
    pipeline(createReadStream(store.blobPath(blob.digest)), hasher, sink).catch(reject);
  });
  if (hasher.digest() !== blob.digest) {
    throw new UserError(`blob ${blob.digest} in the store at ${store.root} is corrupt (its content does not match its digest)`, { hint: 'remove the image and pull or build it again' });
  }
}

import { constants, createReadStream, createWriteStream } from 'node:fs';
import { access, copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack as createPack, type Pack } from 'tar-stream';
import { digestHex, type Digest } from '../oci/digest.js';
import { Annotation, MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageIndex } from '../oci/schemas.js';
import { tempPathFor, writeFileAtomic } from '../util/fs-atomic.js';
import { UserError } from '../util/errors.js';
import { readTarget, requireComplete } from './image.js';
import type { Store } from './store.js';

export type SaveFormat = 'oci-archive' | 'oci-dir';
export const SAVE_FORMATS: readonly SaveFormat[] = ['oci-archive', 'oci-dir'];

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

function layoutIndex(images: SavedImage[]): Buffer {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: images.map(({ name, descriptor }) => ({ ...descriptor, annotations: { ...descriptor.annotations, [Annotation.refName]: name } })),
  };
  return Buffer.from(`${JSON.stringify(index, null, 2)}\n`);
}

const OCI_LAYOUT = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));

/**
 * Writes images as a standalone OCI layout: a directory, or a tar of one (oci-archive, as
 * skopeo's `oci-archive:` reads). Blobs stream from the store; the output appears under its
 * final name only once complete.
 */
export async function saveImages(store: Store, images: SavedImage[], output: string, format: SaveFormat): Promise<void> {
  const blobs = new Map<Digest, Descriptor>();
  for (const image of images) {
    requireComplete(await readTarget(store, image.descriptor), image.name);
    for (const blob of await imageBlobs(store, image.descriptor)) blobs.set(blob.digest, blob);
  }
  await mkdir(dirname(output), { recursive: true });
  if (format === 'oci-dir') await saveDir(store, [...blobs.values()], images, output);
  else await saveTar(store, [...blobs.values()], images, output);
}

async function saveDir(store: Store, blobs: Descriptor[], images: SavedImage[], output: string): Promise<void> {
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
  await writeFileAtomic(join(output, 'index.json'), layoutIndex(images));
}

async function saveTar(store: Store, blobs: Descriptor[], images: SavedImage[], output: string): Promise<void> {
  const tmp = tempPathFor(output);
  const pack = createPack();
  const mtime = new Date(0);
  const writing = pipeline(pack, createWriteStream(tmp, { flags: 'wx' }));
  try {
    await addBuffer(pack, 'oci-layout', OCI_LAYOUT, mtime);
    await addBuffer(pack, 'index.json', layoutIndex(images), mtime);
    for (const dir of ['blobs/', 'blobs/sha256/']) await new Promise<void>((res, rej) => pack.entry({ name: dir, type: 'directory', mode: 0o755, mtime }, (e) => (e ? rej(e) : res())));
    for (const blob of blobs) {
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ name: `blobs/sha256/${digestHex(blob.digest)}`, size: blob.size, mode: 0o644, mtime }, (e) => (e ? reject(e) : resolve()));
        pipeline(createReadStream(store.blobPath(blob.digest)), sink).catch(reject);
      });
    }
    pack.finalize();
    await writing;
    await rename(tmp, output);
  } catch (err) {
    pack.destroy(err as Error);
    await writing.catch(() => undefined);
    await rm(tmp, { force: true });
    throw new UserError(`cannot write ${output}: ${(err as Error).message}`, { hint: 'check the path and free space' });
  }
}

function addBuffer(pack: Pack, name: string, data: Buffer, mtime: Date): Promise<void> {
  return new Promise((resolve, reject) => pack.entry({ name, mode: 0o644, mtime }, data, (err) => (err ? reject(err) : resolve())));
}

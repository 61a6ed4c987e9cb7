import { mkdir, readdir } from 'node:fs/promises';
import { decompressStream } from '../layer/decompress.js';
import { extractTar } from '../layer/extract.js';
import { layerCompression } from '../oci/media-types.js';
import { UserError } from '../util/errors.js';
import type { ResolvedImage } from './image.js';
import type { Store } from './store.js';

/**
 * Unpacks an image's layers in order into `dir`, applying whiteouts: the rootfs a runtime
 * would see. `dir` must be empty or absent, so nothing of the user's is overwritten.
 */
export async function exportRootfs(store: Store, image: ResolvedImage, dir: string): Promise<{ skipped: number }> {
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) {
    throw new UserError(`export target ${dir} is not empty`, { hint: 'export into a new or empty directory', exitCode: 2 });
  }
  let skipped = 0;
  for (const [i, layer] of image.manifest.layers.entries()) {
    const tar = decompressStream(store.openBlob(layer.digest), layerCompression(layer.mediaType));
    const summary = await extractTar(tar, dir, { whiteouts: true, label: `layer ${i + 1} (${layer.digest})` });
    skipped += summary.skipped.length;
  }
  return { skipped };
}

import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { extractTar } from '../layer/extract.js';
import { manifestLayers } from '../layer/image-model.js';
import { checkFreeSpace } from '../layer/layer-reader.js';
import { UserError } from '../util/errors.js';
import { removeTree } from '../util/remove-tree.js';
import type { ResolvedImage } from './image.js';
import type { Store } from './store.js';

/**
 * Unpacks an image's layers in order into `dir`, applying whiteouts: the rootfs a runtime
 * would see. `dir` must be empty or absent, so nothing of the user's is overwritten; on
 * failure (a damaged or lying layer, a full disk) it is emptied again, so no partial rootfs
 * is left behind. `name` names the image in messages.
 */
export async function exportRootfs(store: Store, image: ResolvedImage, dir: string, name: string): Promise<{ skipped: number }> {
  await mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST' && err.code !== 'ENOTDIR') throw err;
    throw new UserError(`export target ${dir} is not a directory`, { hint: 'export into a new or empty directory', exitCode: 2 });
  });
  if ((await readdir(dir)).length > 0) {
    throw new UserError(`export target ${dir} is not empty`, { hint: 'export into a new or empty directory', exitCode: 2 });
  }
  let skipped = 0;
  const owner = `image ${name}`;
  try {
    for (const [i, layer] of manifestLayers(image.manifest.layers, image.config.rootfs.diff_ids, (d) => store.blobPath(d), owner).entries()) {
      const label = `${owner}: layer ${i + 1} (${layer.descriptor.digest})`;
      await checkFreeSpace(dir, layer.descriptor.size, label);
      const summary = await extractTar(layer.open(), dir, { whiteouts: true, label });
      skipped += summary.skipped.length;
    }
  } catch (err) {
    await Promise.all((await readdir(dir)).map((entry) => removeTree(join(dir, entry))));
    throw err;
  }
  return { skipped };
}

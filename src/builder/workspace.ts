import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { extractTar } from '../layer/extract.js';
import type { Layer } from '../layer/image-model.js';
import { checkFreeSpace } from '../layer/layer-reader.js';
import type { Store } from '../store/store.js';
import { removeTree } from '../util/remove-tree.js';

/**
 * A stage's filesystem unpacked into a directory under the store's scratch space, for the
 * steps that need real files: RUN works in it, COPY --from reads from it. It is made only
 * when such a step misses the cache, and brought up to date lazily: `sync` unpacks just the
 * layers added since the last sync (whiteouts applied by extract.ts, which treats every
 * layer as untrusted).
 */
export class Workspace {
  private applied = 0;

  private constructor(
    private readonly scratch: string,
    readonly dir: string,
  ) {}

  static async create(store: Store): Promise<Workspace> {
    const scratch = await store.makeTempDir('rootfs');
    const dir = join(scratch, 'rootfs');
    await mkdir(dir, { mode: 0o755 });
    return new Workspace(scratch, dir);
  }

  /**
   * Makes the directory hold exactly the filesystem of `image`'s layers (which extend what it
   * holds); each is checked against its diff_id and the expansion limit as it unpacks. `owner`
   * names the image in messages.
   */
  async sync(layers: readonly Layer[], owner: string): Promise<void> {
    for (; this.applied < layers.length; this.applied++) {
      const layer = layers[this.applied]!;
      const label = `${owner}: layer ${layer.descriptor.digest}`;
      await checkFreeSpace(this.dir, layer.descriptor.size, label);
      await extractTar(layer.open(), this.dir, { whiteouts: true, label });
    }
  }

  async remove(): Promise<void> {
    await removeTree(this.scratch);
  }
}

import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { extractTar } from '../layer/extract.js';
import { checkFreeSpace, openLayer } from '../layer/layer-reader.js';
import type { Digest } from '../oci/digest.js';
import { layerCompression } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import type { BlobBatch, Store } from '../store/store.js';
import { removeTree } from '../util/remove-tree.js';

/**
 * A stage's filesystem unpacked into a directory under the store's scratch space, for the
 * steps that need real files: RUN works in it, COPY --from reads from it. It is made only
 * when such a step misses the cache, and brought up to date lazily: `sync` unpacks just the
 * layers added since the last sync (whiteouts applied by extract.ts, which treats every
 * layer as untrusted), reading blobs from the build's batch or the store.
 */
export class Workspace {
  private applied = 0;

  private constructor(
    private readonly scratch: string,
    readonly dir: string,
    private readonly batch: BlobBatch,
  ) {}

  static async create(store: Store, batch: BlobBatch): Promise<Workspace> {
    const scratch = await store.makeTempDir('rootfs');
    const dir = join(scratch, 'rootfs');
    await mkdir(dir, { mode: 0o755 });
    return new Workspace(scratch, dir, batch);
  }

  /**
   * Makes the directory hold exactly the filesystem of `image`'s layers (which extend what it
   * holds); each is checked against its diff_id and the expansion limit as it unpacks. `owner`
   * names the image in messages.
   */
  async sync(image: { layers: readonly Descriptor[]; diffIds: readonly Digest[] }, owner: string): Promise<void> {
    for (; this.applied < image.layers.length; this.applied++) {
      const layer = image.layers[this.applied]!;
      const label = `${owner}: layer ${layer.digest}`;
      await checkFreeSpace(this.dir, layer.size, label);
      const tar = openLayer(createReadStream(this.batch.pathOf(layer.digest)), { digest: layer.digest, diffId: image.diffIds[this.applied], owner }, layerCompression(layer.mediaType));
      await extractTar(tar, this.dir, { whiteouts: true, label });
    }
  }

  async remove(): Promise<void> {
    await removeTree(this.scratch);
  }
}

import { rm } from 'node:fs/promises';
import type { Registries } from '../registry/registries.js';
import { CHECKSUMS_FILE } from '../store/archive.js';
import { withBuildLease } from '../store/gc.js';
import type { Store } from '../store/store.js';
import { pullImages, type PullResult } from '../transfer/pull.js';
import { UserError } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import { openImageArchive } from './image-files.js';

/**
 * `load` of an archive that is not a sealbuild bundle: a docker-archive (`docker save`,
 * `save --format docker-archive`) or an oci-archive (skopeo, containerd), compressed or not.
 * Read by the build's image-file reader (airgap/image-files.ts) and stored by the one pull
 * path, every platform it holds: every blob checked against its digest and size as it
 * streams into a batch, the tags moved only once the batch is committed. Holds a writer's
 * lease like loadBundle, so prune waits.
 */
export function loadImageArchive(store: Store, file: string, options: { registries: Registries; reporter: Reporter }): Promise<PullResult[]> {
  return withBuildLease(store, async () => {
    const scratch = await store.makeTempDir('image-archive');
    try {
      const opened = await openImageArchive(file, scratch);
      if (opened === undefined || opened.length === 0) {
        throw new UserError(`${file}: not a sealbuild bundle (no ${CHECKSUMS_FILE} first), an oci-archive (no index.json) or a docker-archive (no manifest.json)`, { hint: 'give what `sealbuild save`, `docker save` or `skopeo copy … oci-archive:FILE:REF` writes' });
      }
      const requests = opened.map((image) => ({ ref: image.name, platforms: 'all' as const, file: { source: image.source, from: file } }));
      return (await pullImages(store, requests, options)).images;
    } catch (err) {
      // The reader's messages start with the file (docker-archive:FILE when it knows the format).
      if (err instanceof UserError) {
        const named = err.message.replace(/^(docker|oci)-archive:/, '').startsWith(`${file}: `);
        throw new UserError(`cannot load ${named ? err.message : `${file}: ${err.message}`}`, { hint: err.hint ?? 'the archive is corrupt, truncated or was tampered with; nothing was imported' });
      }
      throw err;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
}

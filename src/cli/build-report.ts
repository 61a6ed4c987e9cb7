import { formatPlatform } from '../oci/platform.js';
import type { Descriptor } from '../oci/schemas.js';
import { readTarget } from '../store/image.js';
import type { Store } from '../store/store.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

/**
 * The build report `--metadata-file` writes (buildx's flag and idea): what a CI pipeline
 * needs after a build, as one JSON document: the digest, the names, each platform's manifest
 * with its layer sizes, and how long it took. Written atomically, so a reader never sees half of it.
 */
export async function writeBuildReport(file: string, store: Store, descriptor: Descriptor, tags: string[], startedAt: Date): Promise<void> {
  const target = await readTarget(store, descriptor);
  const finishedAt = new Date();
  const report = {
    digest: descriptor.digest,
    mediaType: descriptor.mediaType,
    size: descriptor.size,
    tags,
    platforms: target.images.map((image) => ({
      platform: formatPlatform(image.platform),
      digest: image.descriptor.digest,
      config: image.manifest.config.digest,
      layers: image.manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })),
      size: image.manifest.layers.reduce((sum, l) => sum + l.size, image.manifest.config.size + image.descriptor.size),
    })),
    timings: { startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - startedAt.getTime() },
  };
  await writeFileAtomic(file, `${JSON.stringify(report, null, 2)}\n`);
}

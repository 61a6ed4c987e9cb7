import { z } from 'zod';
import { Annotation } from '../oci/media-types.js';
import { parseJson, type Manifest } from '../oci/schemas.js';

/** One entry of `sealer.image.container.images` as cache-images.ts writes it (sealer's ContainerImage). */
const CachedImagesSchema = z.array(z.object({ image: z.string(), appName: z.string().optional() }));

/** The container image references a ClusterImage manifest says it caches (none when it caches none). */
export function cachedImageRefs(manifest: Manifest, shown: string): string[] {
  const text = manifest.annotations?.[Annotation.sealerContainerImages];
  if (text === undefined) return [];
  return parseJson(CachedImagesSchema, text, `${shown}: the ${Annotation.sealerContainerImages} annotation`, { hint: 'it is not the list of images sealbuild writes: rebuild the image with sealbuild' }).map((entry) => entry.image);
}

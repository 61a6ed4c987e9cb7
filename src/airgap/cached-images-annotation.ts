import { z } from 'zod';
import { Annotation } from '../oci/media-types.js';
import type { Manifest } from '../oci/schemas.js';
import { UserError } from '../util/errors.js';

/** One entry of `sealer.image.container.images` as cache-images.ts writes it (sealer's ContainerImage). */
const CachedImagesSchema = z.array(z.object({ image: z.string(), appName: z.string().optional() }));

/** The container image references a ClusterImage manifest says it caches (none when it caches none). */
export function cachedImageRefs(manifest: Manifest, shown: string): string[] {
  const text = manifest.annotations?.[Annotation.sealerContainerImages];
  if (text === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const result = CachedImagesSchema.safeParse(parsed);
  if (!result.success) throw new UserError(`${shown}: the ${Annotation.sealerContainerImages} annotation is not a list of images`, { hint: 'rebuild the image with sealbuild' });
  return result.data.map((entry) => entry.image);
}

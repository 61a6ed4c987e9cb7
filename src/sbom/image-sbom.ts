import { findCharts } from '../airgap/charts.js';
import { manifestLayers } from '../layer/image-model.js';
import { documentsOf, isImageDocument } from '../airgap/documents.js';
import { viewFromRemembered } from '../runtime/layer-view.js';
import { sha256Digest, type Digest } from '../oci/digest.js';
import { Annotation } from '../oci/media-types.js';
import { formatPlatform } from '../oci/platform.js';
import { parseReference } from '../oci/reference.js';
import { ManifestSchema, parseJson } from '../oci/schemas.js';
import { artifactReferrer, attachReferrer, type Artifact, type Referrer } from '../registry/referrers.js';
import type { Registries } from '../registry/registries.js';
import { keepReferrer, keptReferrer } from '../store/attachments.js';
import { readTagged, type ResolvedImage } from '../store/image.js';
import type { Store } from '../store/store.js';
import { UserError } from '../util/errors.js';
import { SPDX_JSON, spdxDocument } from './spdx.js';

/**
 * The SBOM of one platform image in the store, as bytes. Reads the layer facts builds
 * remembered (a built image costs no layer read); a pulled image's layers are scanned.
 */
async function imageSbom(store: Store, name: string, image: ResolvedImage): Promise<Buffer> {
  const layers = manifestLayers(image.manifest.layers, image.config.rootfs.diff_ids, (d) => store.blobPath(d), `image ${name}`);
  const view = await viewFromRemembered(layers, store.root, isImageDocument);
  return Buffer.from(`${JSON.stringify(spdxDocument({ name, image, view, charts: await findCharts(documentsOf(view)) }), null, 2)}\n`);
}

/** The SBOM as a referrer artifact of the image. */
async function sbomArtifact(store: Store, name: string, image: ResolvedImage): Promise<Artifact> {
  return { artifactType: SPDX_JSON, content: await imageSbom(store, name, image), title: 'sbom.spdx.json', annotations: { 'org.opencontainers.image.created': image.config.created ?? '1970-01-01T00:00:00Z' } };
}

/**
 * The SBOM referrer of one platform image: the one the store keeps (a bundle brought it, or
 * `save` kept it), as it is, else one made now. So a site pushes and prints the document the
 * builder made, whatever sealbuild version it runs.
 */
export async function sbomReferrer(store: Store, name: string, image: ResolvedImage): Promise<{ referrer: Referrer; kept: boolean }> {
  const kept = await keptReferrer(store, name, image.descriptor.digest, SPDX_JSON);
  if (kept !== undefined) return { referrer: kept, kept: true };
  return { referrer: artifactReferrer(await sbomArtifact(store, name, image), image.descriptor), kept: false };
}

/** The SPDX document itself: the referrer's one layer. */
export function sbomDocument(referrer: Referrer): Buffer {
  const layer = parseJson(ManifestSchema, referrer.manifest, 'SBOM referrer').layers[0];
  const document = referrer.blobs.find((blob) => layer !== undefined && sha256Digest(blob) === layer.digest);
  if (document === undefined) throw new UserError('the SBOM referrer in the store has no document', { hint: 'run `sealbuild prune`, then save or push again' });
  return document;
}

/** Keeps the SBOM of each of `images` that is a ClusterImage in the store (`save` carries what is kept). */
export async function keepSboms(store: Store, name: string, images: ResolvedImage[]): Promise<void> {
  for (const image of images.filter(isClusterImage)) {
    const { referrer, kept } = await sbomReferrer(store, name, image);
    if (!kept) await keepReferrer(store, name, image.descriptor.digest, referrer);
  }
}

/** A ClusterImage: what sealbuild builds (sealer's extension annotation); plain container images are copied without one. */
export function isClusterImage(image: ResolvedImage): boolean {
  return image.manifest.annotations?.[Annotation.sealerExtension] !== undefined;
}

/**
 * Attaches the SBOM of each platform image of `localName` (ClusterImages only) to what was
 * pushed as `destination`, as a referrer of that platform's manifest. The SBOM names the image
 * as the store does, so the same image carries the same SBOM to every registry (a re-push, or
 * a push to a mirror, writes nothing new) and `sealbuild sbom NAME` prints what was attached.
 */
export async function attachSboms(store: Store, registries: Registries, localName: string, destination: string): Promise<{ platform: string; digest: Digest; via: string }[]> {
  const target = await readTagged(store, localName, localName);
  const ref = parseReference(destination);
  const repo = registries.repository(ref, true);
  const attached = [];
  for (const image of target.images.filter(isClusterImage)) {
    const { descriptor, via } = await attachReferrer(repo, image.descriptor, (await sbomReferrer(store, localName, image)).referrer);
    attached.push({ platform: formatPlatform(image.platform), digest: descriptor.digest, via });
  }
  return attached;
}

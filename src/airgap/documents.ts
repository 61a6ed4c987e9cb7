import { contentOf, type LayerView } from '../runtime/layer-view.js';

/*
 * The files of a ClusterImage the airgap scan reads (and the SBOM after it): the layer view
 * keeps their bytes only because the build, the SBOM and the installer's view pass
 * `isImageDocument` in; the view itself knows nothing of them.
 */

/** Where a ClusterImage keeps what is applied after install: the airgap scan looks for image references here. */
const DOCUMENT_ROOTS = ['manifests/', 'charts/', 'application/apps/'];

/** The list of the images cached into registry/ (cache-images.ts writes it, SBOMs read it). */
export const IMAGES_LOCK_PATH = 'images.lock';

export function isDocumentPath(path: string): boolean {
  return DOCUMENT_ROOTS.some((root) => path.startsWith(root));
}

/** What a layer view keeps the bytes of for the airgap scan and the SBOM: the documents and images.lock. */
export function isImageDocument(path: string): boolean {
  return isDocumentPath(path) || path === IMAGES_LOCK_PATH;
}

/** What the document roots hold in `view` (all layers applied, whiteouts included): path -> content. */
export function documentsOf(view: LayerView): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const [path, facts] of view) {
    const content = facts.type === 'file' && isDocumentPath(path) ? contentOf(facts) : undefined;
    if (content !== undefined) files.set(path, content);
  }
  return files;
}

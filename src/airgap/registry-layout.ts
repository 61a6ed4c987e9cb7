import { digestHex, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/schemas.js';
import type { LayerEntry } from '../layer/tar-writer.js';

/** Where distribution's filesystem driver keeps everything, under the image's `registry/`. */
const V2 = 'registry/docker/registry/v2';

/** One image as it goes into the registry folder. */
export interface LayoutImage {
  /** Repository path without the registry host: `library/nginx`. */
  repository: string;
  tag?: string;
  /** The manifest or index the reference resolves to. */
  top: Descriptor;
  /** Manifests (the top one, or the chosen children of an index). */
  manifests: Descriptor[];
  /** Configs and layers of those manifests. */
  blobs: Descriptor[];
}

/**
 * The registry folder for `images` in distribution's storage layout (docs/formats.md §3):
 * blob data once per digest (streamed from `blobPath`), and per repository the links that
 * make tags, digests and blobs resolve. `registry:2` serves it as is.
 */
export function registryLayout(images: LayoutImage[], blobPath: (digest: Digest) => string): LayerEntry[] {
  const entries = new Map<string, LayerEntry>();
  const dir = (path: string) => {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (!entries.has(p)) entries.set(p, { path: p, type: 'directory', mode: 0o755, uid: 0, gid: 0 });
    }
  };
  const link = (path: string, digest: Digest) => {
    dir(path.slice(0, path.lastIndexOf('/')));
    entries.set(path, { path, type: 'file', mode: 0o644, uid: 0, gid: 0, content: Buffer.from(digest), size: digest.length });
  };
  const blob = (d: Descriptor) => {
    const hex = digestHex(d.digest);
    const path = `${V2}/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
    if (entries.has(path)) return;
    dir(path.slice(0, path.lastIndexOf('/')));
    entries.set(path, { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: d.size, source: blobPath(d.digest), digest: d.digest });
  };
  for (const image of images) {
    const repo = `${V2}/repositories/${image.repository}`;
    for (const m of [image.top, ...image.manifests]) {
      blob(m);
      link(`${repo}/_manifests/revisions/sha256/${digestHex(m.digest)}/link`, m.digest);
    }
    for (const b of image.blobs) {
      blob(b);
      link(`${repo}/_layers/sha256/${digestHex(b.digest)}/link`, b.digest);
    }
    if (image.tag !== undefined) {
      link(`${repo}/_manifests/tags/${image.tag}/current/link`, image.top.digest);
      link(`${repo}/_manifests/tags/${image.tag}/index/sha256/${digestHex(image.top.digest)}/link`, image.top.digest);
    }
  }
  return [...entries.values()];
}

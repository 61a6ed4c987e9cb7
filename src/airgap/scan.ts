import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { z } from 'zod';
import { digestHex, type Digest } from '../oci/digest.js';
import { layerCompression } from '../oci/media-types.js';
import { parseJson, type Descriptor } from '../oci/schemas.js';
import { decompressStream } from '../layer/decompress.js';
import type { BlobBatch } from '../store/store.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

/** Where a ClusterImage keeps what is applied after install: image references live here. */
export const SCAN_ROOTS = ['manifests/', 'charts/', 'application/apps/'];
/** Kubernetes documents and charts are small; anything larger is not one. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

const LayerScan = z.object({
  files: z.array(z.object({ path: z.string(), content: z.string() })),
  removed: z.array(z.string()),
  opaque: z.array(z.string()),
});
type LayerScan = z.infer<typeof LayerScan>;

function inScope(path: string): boolean {
  return SCAN_ROOTS.some((root) => path.startsWith(root) || `${path}/` === root);
}

/** The files under SCAN_ROOTS that one layer adds, and what it deletes there. */
async function scanLayer(file: string, mediaType: string): Promise<LayerScan> {
  const scan: LayerScan = { files: [], removed: [], opaque: [] };
  const reader = extract();
  reader.on('entry', (header, body, next) => {
    const path = posix.normalize(header.name).replace(/^(\.\/|\/)+/, '').replace(/\/$/, '');
    const base = posix.basename(path);
    const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
    const done = () => next();
    if (base === '.wh..wh..opq' && inScope(`${dir}/x`)) scan.opaque.push(dir);
    else if (base.startsWith('.wh.') && inScope(path)) scan.removed.push(posix.join(dir, base.slice(4)));
    else if (header.type === 'file' && inScope(path) && header.size <= MAX_FILE_BYTES) {
      const chunks: Buffer[] = [];
      body.on('data', (c: unknown) => chunks.push(c as Buffer));
      body.on('end', () => {
        scan.files.push({ path, content: Buffer.concat(chunks).toString('base64') });
        done();
      });
      return;
    }
    body.on('end', done);
    body.resume();
  });
  await pipeline(decompressStream(createReadStream(file), layerCompression(mediaType)), reader);
  return scan;
}

/**
 * What the image's SCAN_ROOTS hold once all layers are applied (whiteouts included):
 * path -> content. Each layer is read once ever: its scan is kept under the store root by
 * diff_id once the build succeeds, so a rebuild of an unchanged image reads a few small JSON
 * files, not its layers.
 */
export async function scanImageFiles(cacheDir: string, layers: { descriptor: Descriptor; diffId: Digest; file: string }[], batch: BlobBatch): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const layer of layers) {
    const cacheFile = join(cacheDir, `${digestHex(layer.diffId)}.json`);
    let scan: LayerScan;
    const cached = await readFile(cacheFile).catch(() => undefined);
    if (cached) scan = parseJson(LayerScan, cached, cacheFile);
    else {
      scan = await scanLayer(layer.file, layer.descriptor.mediaType);
      const record = JSON.stringify(scan);
      // Kept only if the build succeeds: a failed build leaves the store root as it was.
      batch.onCommit(async () => {
        await mkdir(cacheDir, { recursive: true });
        await writeFileAtomic(cacheFile, record);
      });
    }
    for (const dir of [...scan.opaque, ...scan.removed]) {
      for (const path of [...files.keys()]) if (path === dir || path.startsWith(`${dir}/`)) files.delete(path);
    }
    for (const { path, content } of scan.files) files.set(path, Buffer.from(content, 'base64'));
  }
  return files;
}

import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { isDigest, type Digest } from '../oci/digest.js';
import { DescriptorSchema, parseJson } from '../oci/schemas.js';
import { writeLayer, type WrittenLayer } from '../layer/layer-writer.js';
import type { LayerEntry } from '../layer/tar-writer.js';
import type { BlobBatch, Store } from '../store/store.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

const Record = z.object({ descriptor: DescriptorSchema, diffId: z.string().refine(isDigest).transform((d) => d as Digest) });

/**
 * The registry/ layer, uncompressed: what it holds is already compressed (image layers), so
 * gzip would burn CPU for nothing (sealer #2100). Its bytes follow from the entries alone
 * (blob files are named by digest), so a layer made once for the same entries and time is
 * found by a hash of them and reused: a rebuild with an unchanged image set copies nothing.
 */
export async function writeRegistryLayer(entries: LayerEntry[], mtime: Date, store: Store, batch: BlobBatch): Promise<WrittenLayer> {
  const key = createHash('sha256');
  key.update(`v1 ${mtime.getTime()}\n`);
  for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    key.update(`${e.path}\0${e.type}\0${e.mode}\0${e.size ?? 0}\0${e.content?.toString('base64') ?? ''}\0${e.source ? basename(e.source) : ''}\n`);
  }
  const recordFile = join(store.root, 'cache', 'registry-layers', `${key.digest('hex')}.json`);
  const known = await readFile(recordFile).then((bytes) => parseJson(Record, bytes, recordFile), () => undefined);
  if (known && (await store.hasBlob(known.descriptor.digest))) return { descriptor: known.descriptor, diffId: known.diffId, reused: true };
  const written = await writeLayer(entries, { mtime, compression: 'none' }, batch);
  batch.onCommit(async () => {
    await mkdir(join(store.root, 'cache', 'registry-layers'), { recursive: true });
    await writeFileAtomic(recordFile, JSON.stringify({ descriptor: written.descriptor, diffId: written.diffId }));
  });
  return written;
}

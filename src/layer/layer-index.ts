import { access, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { digestHex, isDigest, type Digest } from '../oci/digest.js';
import { DescriptorSchema, checkedJson, type Descriptor } from '../oci/schemas.js';
import type { Layer } from './image-model.js';
import type { LayerSink } from './sink.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

export type CompressedKind = 'gzip' | 'zstd';

/** What a record of the tar-key index holds: a layer without the means to open it. */
type IndexedLayer = Pick<Layer, 'descriptor' | 'diffId'>;

const IndexedLayerSchema = z.object({ descriptor: DescriptorSchema, diffId: z.string().refine(isDigest) });

/**
 * Two indexes that keep a layer from being made twice (docs/formats.md §1), each one small JSON
 * file per key, named by the content it describes and replaced only by atomic rename:
 * - `ROOT/compressed/<kind>/<diff_id hex>`: the blob that is the `kind` compression of a tar;
 * - `ROOT/layer-keys/<compression>/<tar key hex>`: the layer made of a list of entries whose
 *   contents were known by digest (tarKey), so a known layer is found without reading a file.
 * A build stages its records in its batch and they reach the store only after the batch's
 * blobs did, so a record never points at a blob a failed build left out, and a failed build
 * changes nothing. A record counts only while its blob is still there.
 */
export async function findCompressed(batch: LayerSink, kind: CompressedKind, diffId: Digest): Promise<Descriptor | undefined> {
  const record = await find(batch, join('compressed', kind, digestHex(diffId)), DescriptorSchema, (r) => r.digest);
  return record === undefined ? undefined : { mediaType: record.mediaType, digest: record.digest, size: record.size };
}

/** Records that `descriptor` is the `kind` compression of the tar with `diffId`, from the batch's commit on. */
export async function recordCompressed(batch: LayerSink, kind: CompressedKind, diffId: Digest, descriptor: Descriptor): Promise<void> {
  await record(batch, join('compressed', kind, digestHex(diffId)), bareDescriptor(descriptor));
}

export async function findByTarKey(batch: LayerSink, compression: string, key: Digest): Promise<IndexedLayer | undefined> {
  const record = await find(batch, join('layer-keys', compression, digestHex(key)), IndexedLayerSchema, (r) => r.descriptor.digest);
  return record === undefined ? undefined : { descriptor: bareDescriptor(record.descriptor), diffId: record.diffId as Digest };
}

export async function recordByTarKey(batch: LayerSink, compression: string, key: Digest, layer: IndexedLayer): Promise<void> {
  await record(batch, join('layer-keys', compression, digestHex(key)), { descriptor: bareDescriptor(layer.descriptor), diffId: layer.diffId });
}

/** Removes the records of both indexes whose blob is gone (`sealbuild prune`). */
export async function removeDanglingRecords(root: string, hasBlob: (digest: Digest) => Promise<boolean>): Promise<void> {
  const indexes = [
    { dir: 'compressed', read: (path: string) => readRecord(path, DescriptorSchema).then((r) => r?.digest) },
    { dir: 'layer-keys', read: (path: string) => readRecord(path, IndexedLayerSchema).then((r) => r?.descriptor.digest) },
  ];
  for (const { dir, read } of indexes) {
    for (const kind of await readdir(join(root, dir)).catch(() => [] as string[])) {
      for (const name of await readdir(join(root, dir, kind)).catch(() => [] as string[])) {
        const path = join(root, dir, kind, name);
        const digest = await read(path).catch(() => undefined);
        if (digest === undefined || !(await hasBlob(digest))) await rm(path, { force: true });
      }
    }
  }
}

function bareDescriptor(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** A record staged by an earlier layer of this build (another platform with the same files) first, then the store's. */
async function find<T extends z.ZodType>(batch: LayerSink, name: string, schema: T, blobOf: (record: z.infer<T>) => string): Promise<z.infer<T> | undefined> {
  for (const path of [join(batch.dir, name), join(batch.store.root, name)]) {
    const found = await readRecord(path, schema);
    if (found !== undefined && (await exists(batch.pathOf(blobOf(found) as Digest)))) return found;
  }
  return undefined;
}

async function record(batch: LayerSink, name: string, value: unknown): Promise<void> {
  const json = JSON.stringify(value);
  const staged = join(batch.dir, name);
  await mkdir(dirname(staged), { recursive: true });
  await writeFile(staged, json);
  batch.onCommit(async () => {
    const target = join(batch.store.root, name);
    await mkdir(dirname(target), { recursive: true });
    await writeFileAtomic(target, json);
  });
}

/** A record, or undefined when there is none; an unreadable record is a miss (it is rewritten on the next commit). */
async function readRecord<T extends z.ZodType>(path: string, schema: T): Promise<z.infer<T> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return checkedJson(schema, text);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

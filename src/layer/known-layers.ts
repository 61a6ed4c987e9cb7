import type { z } from 'zod';
import { CompressedRecordSchema, LayerKeyRecordSchema } from '../cache/blob-records.js';
import { Records, type Keyspace } from '../cache/records.js';
import { digestHex, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/schemas.js';
import type { Layer } from './image-model.js';
import type { LayerSink } from './sink.js';

export type CompressedKind = 'gzip' | 'zstd';

/** What a tar-key record holds: a layer without the means to open it. */
type KnownLayer = Pick<Layer, 'descriptor' | 'diffId'>;

/**
 * The known-layer records, two kinds that keep a layer from being made twice (docs/formats.md
 * §1), keyspaces of the store's cache (cache/records.ts):
 * - `compressed/<kind>-<diff_id hex>`: the blob that is the `kind` compression of a tar;
 * - `layer-keys/<compression>-<tar key hex>`: the layer made of a list of entries whose
 *   contents were known by digest (tarKey), so a known layer is found without reading a file.
 * A build stages its records in its batch and they reach the store only after the batch's
 * blobs did, so a record never points at a blob a failed build left out, and a failed build
 * changes nothing. A record counts only while its blob is still there, whole: blob data is not
 * fsynced (store.ts), so a power loss can leave one cut short, which is then made again.
 */
export async function findCompressed(batch: LayerSink, kind: CompressedKind, diffId: Digest): Promise<Descriptor | undefined> {
  const record = await find(batch, 'compressed', CompressedRecordSchema, `${kind}-${digestHex(diffId)}`, (r) => r);
  return record === undefined ? undefined : bareDescriptor(record);
}

/** Records that `descriptor` is the `kind` compression of the tar with `diffId`, from the batch's commit on. */
export async function recordCompressed(batch: LayerSink, kind: CompressedKind, diffId: Digest, descriptor: Descriptor): Promise<void> {
  await record(batch, 'compressed', CompressedRecordSchema, `${kind}-${digestHex(diffId)}`, bareDescriptor(descriptor));
}

export async function findByTarKey(batch: LayerSink, compression: string, key: Digest): Promise<KnownLayer | undefined> {
  const record = await find(batch, 'layer-keys', LayerKeyRecordSchema, `${compression}-${digestHex(key)}`, (r) => r.descriptor);
  return record === undefined ? undefined : { descriptor: bareDescriptor(record.descriptor), diffId: record.diffId as Digest };
}

export async function recordByTarKey(batch: LayerSink, compression: string, key: Digest, layer: KnownLayer): Promise<void> {
  await record(batch, 'layer-keys', LayerKeyRecordSchema, `${compression}-${digestHex(key)}`, { descriptor: bareDescriptor(layer.descriptor), diffId: layer.diffId });
}

function bareDescriptor(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** A record staged by an earlier layer of this build (another platform with the same files) first, then the store's. */
async function find<R>(batch: LayerSink, keyspace: Keyspace, schema: z.ZodType<R>, key: string, blobOf: (record: R) => { digest: string; size: number }): Promise<R | undefined> {
  for (const root of [batch.dir, batch.store.root]) {
    const found = await new Records(root, keyspace, schema).read(key);
    const blob = found === undefined ? undefined : blobOf(found);
    if (blob !== undefined && (await batch.hasBlob(blob.digest as Digest, blob.size))) return found;
  }
  return undefined;
}

async function record<R>(batch: LayerSink, keyspace: Keyspace, schema: z.ZodType<R>, key: string, value: R): Promise<void> {
  await new Records(batch.dir, keyspace, schema).write(key, value);
  batch.onCommit(() => new Records(batch.store.root, keyspace, schema).write(key, value));
}

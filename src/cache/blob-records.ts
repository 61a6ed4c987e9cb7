import { z } from 'zod';
import { isDigest, type Digest } from '../oci/digest.js';
import { DescriptorSchema, type Descriptor } from '../oci/schemas.js';
import type { Keyspace } from './records.js';

/** `compressed/<kind>-<diff_id hex>`: the blob that is the `kind` compression of a tar. */
export const CompressedRecordSchema = DescriptorSchema;

/** `layer-keys/<compression>-<tar key hex>`: the layer made of a list of entries known by digest. */
export const LayerKeyRecordSchema = z.object({ descriptor: DescriptorSchema, diffId: z.string().refine(isDigest) });
export type LayerKeyRecord = { descriptor: Descriptor; diffId: Digest };

/** `blob-sources/<blob hex>`: the repositories (`registry/path`) known to hold the blob, newest first. */
export const BlobSourcesRecordSchema = z.object({ repositories: z.array(z.string()) });

/**
 * The keyspaces whose records each name a blob of the store: a record counts only while its
 * blob is there, and prune keeps a record exactly as long as its blob.
 */
export const BLOB_RECORDS: { keyspace: Keyspace; schema: z.ZodType; blobOf(key: string, record: unknown): string }[] = [
  { keyspace: 'compressed', schema: CompressedRecordSchema, blobOf: (_key, record) => (record as Descriptor).digest },
  { keyspace: 'layer-keys', schema: LayerKeyRecordSchema, blobOf: (_key, record) => (record as LayerKeyRecord).descriptor.digest },
  { keyspace: 'blob-sources', schema: BlobSourcesRecordSchema, blobOf: (key) => `sha256:${key}` },
];

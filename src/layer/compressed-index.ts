import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { digestHex, type Digest } from '../oci/digest.js';
import { DescriptorSchema, type Descriptor } from '../oci/schemas.js';
import type { BlobBatch } from '../store/store.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

export type CompressedKind = 'gzip' | 'zstd';

/**
 * diff_id -> compressed blob, per compression kind, so a layer whose tar was compressed once
 * is never compressed again (formats.md §1). One small JSON descriptor per file at
 * `ROOT/compressed/<kind>/<diff_id hex>`, named by the content it describes and replaced only
 * by atomic rename. A build stages its records in its batch and they reach the store only
 * after the batch's blobs did, so a record never points at a blob a failed build left out,
 * and a failed build changes nothing.
 */
export async function findCompressed(batch: BlobBatch, kind: CompressedKind, diffId: Digest): Promise<Descriptor | undefined> {
  // A record staged by an earlier layer of this build (another platform with the same files)
  // first, then the store's; either counts only while its blob is still there.
  for (const path of [stagedPath(batch, kind, diffId), storePath(batch, kind, diffId)]) {
    const record = await readRecord(path);
    if (record !== undefined && (await exists(batch.pathOf(record.digest)))) return record;
  }
  return undefined;
}

/** Records that `descriptor` is the `kind` compression of the tar with `diffId`, from the batch's commit on. */
export async function recordCompressed(batch: BlobBatch, kind: CompressedKind, diffId: Digest, descriptor: Descriptor): Promise<void> {
  const json = JSON.stringify({ mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size });
  const staged = stagedPath(batch, kind, diffId);
  await mkdir(dirname(staged), { recursive: true });
  await writeFile(staged, json);
  batch.onCommit(async () => {
    const target = storePath(batch, kind, diffId);
    await mkdir(dirname(target), { recursive: true });
    await writeFileAtomic(target, json);
  });
}

function stagedPath(batch: BlobBatch, kind: CompressedKind, diffId: Digest): string {
  return join(batch.dir, 'compressed', kind, digestHex(diffId));
}

function storePath(batch: BlobBatch, kind: CompressedKind, diffId: Digest): string {
  return join(batch.store.root, 'compressed', kind, digestHex(diffId));
}

/** A record, or undefined when there is none; an unreadable record is a miss (it is rewritten on the next commit). */
async function readRecord(path: string): Promise<Descriptor | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const parsed = DescriptorSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { GZIP_CHUNK_SIZE } from '../../src/layer/gzip-parallel.js';
import { writeLayer, type LayerCompression } from '../../src/layer/layer-writer.js';
import { extract } from 'tar-stream';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LayerEntry } from '../../src/layer/tar-writer.js';
import { digestHex } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { Store } from '../../src/store/store.js';
import { removeDir, run, tempDir, tool } from '../helpers/cli.js';

let dir: string;
let store: Store;
const mtime = new Date(0);

before(async () => {
  tool('zstd', 'zstd');
  dir = await tempDir();
  store = await Store.open(join(dir, 'root'));
  // Bigger than two gzip chunks, so the layer spans several members.
  const big = Buffer.alloc(2 * GZIP_CHUNK_SIZE + 4321);
  for (let i = 0; i + 4 <= big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  await writeFile(join(dir, 'big.bin'), big);
  await writeFile(join(dir, 'tiny.txt'), 'hi\n');
});
after(() => removeDir(dir));

function fileEntry(name: string, size: number): LayerEntry {
  return { path: name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, source: join(dir, name) };
}

const LAYERS: Record<string, () => LayerEntry[]> = {
  empty: () => [],
  tiny: () => [{ path: 'etc', type: 'directory', mode: 0o755, uid: 0, gid: 0 }, fileEntry('tiny.txt', 3)],
  'several chunks': () => [fileEntry('big.bin', 2 * GZIP_CHUNK_SIZE + 4321)],
};

/** The blob's content decompressed by an independent decoder (zlib's gunzip, the zstd tool). */
async function uncompressed(path: string, compression: LayerCompression): Promise<Buffer> {
  if (compression === 'gzip') return gunzipSync(await readFile(path));
  if (compression === 'none') return readFile(path);
  const out = join(dir, `out-${Date.now()}`);
  run('zstd', ['-q', '-d', '-f', path, '-o', out]);
  try {
    return await readFile(out);
  } finally {
    await rm(out);
  }
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('writeLayer', () => {
  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    for (const [name, entries] of Object.entries(LAYERS)) {
      test(`${compression}, ${name} layer: the blob decompresses to the tar its diff_id names`, async () => {
        const batch = await store.beginBatch();
        const layer = await writeLayer(entries(), { mtime, compression }, batch);
        const tar = await uncompressed(batch.pathOf(layer.descriptor.digest), compression);
        assert.equal(sha256(tar), layer.diffId);
        assert.equal(layer.descriptor.mediaType, { gzip: MediaType.ociLayerGzip, zstd: MediaType.ociLayerZstd, none: MediaType.ociLayer }[compression]);
        assert.equal(sha256(await readFile(batch.pathOf(layer.descriptor.digest))), layer.descriptor.digest);
        await batch.abort();
      });
    }
  }

  test('a tar compressed once is not compressed again, in the same build or a later one', async () => {
    const entries = LAYERS['several chunks']!();
    const first = await store.beginBatch();
    const built = await writeLayer(entries, { mtime, compression: 'gzip' }, first);
    assert.equal(built.reused, false);
    // Another platform of the same build with the same files.
    const again = await writeLayer(entries, { mtime, compression: 'gzip' }, first);
    assert.equal(again.reused, true);
    assert.deepEqual([again.descriptor, again.diffId], [built.descriptor, built.diffId]);
    await first.commit();
    const record = JSON.parse(await readFile(join(store.root, 'cache', 'compressed', `gzip-${digestHex(built.diffId)}.json`), 'utf8'));
    assert.deepEqual(record, { mediaType: MediaType.ociLayerGzip, digest: built.descriptor.digest, size: built.descriptor.size });

    const later = await store.beginBatch();
    const reused = await writeLayer(entries, { mtime, compression: 'gzip' }, later);
    assert.equal(reused.reused, true);
    assert.deepEqual(reused.descriptor, built.descriptor);
    assert.equal(reused.diffId, built.diffId);
    assert.deepEqual((await readdir(later.dir)).filter((f) => f !== 'cache'), [], 'nothing compressed into the batch');
    // Per compression kind: zstd has its own record.
    assert.equal((await writeLayer(entries, { mtime, compression: 'zstd' }, later)).reused, false);
    await later.abort();
  });

  test('an aborted build records nothing, and a record whose blob is gone is a miss', async () => {
    const entries = LAYERS.tiny!();
    const aborted = await store.beginBatch();
    const layer = await writeLayer(entries, { mtime: new Date(1000), compression: 'zstd' }, aborted);
    await aborted.abort();
    await assert.rejects(readFile(join(store.root, 'cache', 'compressed', `zstd-${digestHex(layer.diffId)}.json`)), { code: 'ENOENT' });

    const kept = await store.beginBatch();
    await writeLayer(entries, { mtime: new Date(1000), compression: 'zstd' }, kept);
    await kept.commit();
    await rm(store.blobPath(layer.descriptor.digest));
    const rebuilt = await store.beginBatch();
    const again = await writeLayer(entries, { mtime: new Date(1000), compression: 'zstd' }, rebuilt);
    assert.equal(again.reused, false);
    assert.deepEqual(again.descriptor, layer.descriptor, 'zstd output is deterministic');
    await rebuilt.commit();
    assert.equal(await store.hasBlob(layer.descriptor.digest), true);
  });

  test('a layer whose file digests are known is found again by its entries, without reading a file', async () => {
    const content = Buffer.from('known content\n');
    await writeFile(join(dir, 'known.txt'), content);
    const known = (): LayerEntry[] => [{ ...fileEntry('known.txt', content.length), digest: sha256(content) as `sha256:${string}` }];
    for (const compression of ['gzip', 'none'] as const) {
      const first = await store.beginBatch();
      const built = await writeLayer(known(), { mtime, compression }, first);
      assert.equal(built.reused, false);
      await first.commit();
      const later = await store.beginBatch();
      // The source is gone: only the index can answer.
      await rm(join(dir, 'known.txt'));
      const again = await writeLayer(known(), { mtime, compression }, later);
      assert.deepEqual([again.reused, again.descriptor, again.diffId], [true, built.descriptor, built.diffId]);
      await later.abort();
      await writeFile(join(dir, 'known.txt'), content);
    }
  });

  test('the inspector reads the very tar the blob holds, as it is written, and its failure fails the layer', async () => {
    // Hashes what it is given and lists the entries by parsing the same bytes.
    const inspect = async (tar: Readable): Promise<{ digest: string; names: string[] }> => {
      const hash = createHash('sha256');
      const names: string[] = [];
      const reader = extract();
      reader.on('entry', (header, body, next) => {
        names.push(header.name);
        body.on('end', () => next());
        body.resume();
      });
      tar.on('data', (chunk: Buffer) => hash.update(chunk));
      await pipeline(tar, reader);
      return { digest: `sha256:${hash.digest('hex')}`, names };
    };
    const mtime = new Date(7000);
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      const batch = await store.beginBatch();
      const layer = await writeLayer(LAYERS.tiny!(), { mtime, compression, inspect }, batch);
      assert.deepEqual(layer.inspected, { digest: layer.diffId, names: ['etc/', 'tiny.txt'] }, compression);
      if (compression !== 'none') {
        // Found by diff_id (these entries have no digests); an uncompressed tar is just written again.
        const again = await writeLayer(LAYERS.tiny!(), { mtime, compression, inspect }, batch);
        assert.deepEqual([again.reused, again.inspected], [true, undefined], `${compression}: a reused layer is not read`);
      }
      await batch.abort();
    }
    for (const compression of ['gzip', 'zstd'] as const) {
      const failing = await store.beginBatch();
      await assert.rejects(
        writeLayer(LAYERS['several chunks']!(), { mtime: new Date(8000), compression, inspect: async (tar) => {
          for await (const _ of tar) throw new Error('inspector gave up');
        } }, failing),
        /inspector gave up/,
      );
      assert.deepEqual(await readdir(failing.dir), [], `${compression}: no half-written blob is left in the batch`);
      await failing.abort();
    }
  });

  test('a layer of files with unknown digests learns them as it reads, and is then known by its entries', async () => {
    const content = Buffer.from('learnt while written\n');
    await writeFile(join(dir, 'learnt.txt'), content);
    const entries = (): LayerEntry[] => [fileEntry('learnt.txt', content.length), fileEntry('tiny.txt', 3)];
    const first = await store.beginBatch();
    const learn = new Map<string, string>();
    const built = await writeLayer(entries(), { mtime, compression: 'gzip', learn: learn as Map<string, `sha256:${string}`> }, first);
    assert.equal(built.reused, false);
    assert.deepEqual(learn, new Map([[join(dir, 'learnt.txt'), sha256(content)], [join(dir, 'tiny.txt'), sha256(Buffer.from('hi\n'))]]));
    await first.commit();
    const later = await store.beginBatch();
    const named = entries().map((e) => ({ ...e, digest: learn.get(e.source!) as `sha256:${string}` }));
    await rm(join(dir, 'learnt.txt'));
    const again = await writeLayer(named, { mtime, compression: 'gzip' }, later);
    assert.deepEqual([again.reused, again.descriptor, again.diffId], [true, built.descriptor, built.diffId]);
    await later.abort();
  });
});

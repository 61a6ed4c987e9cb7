import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { z } from 'zod';
import { pruneCache } from '../../src/cache/prune.js';
import { Records, cacheRoot } from '../../src/cache/records.js';
import type { Digest } from '../../src/oci/digest.js';
import { removeDir, tempDir } from '../helpers/cli.js';

let root: string;
before(async () => {
  root = await tempDir();
});
after(() => removeDir(root));

const hex = (c: string): string => c.repeat(64);
const Sources = z.object({ repositories: z.array(z.string()) });

test('a record reads back as written; a missing, damaged or misshapen one is a miss', async () => {
  const records = new Records(root, 'blob-sources', Sources);
  await records.write(hex('a'), { repositories: ['r.example/team/app'] });
  assert.deepEqual(await records.read(hex('a')), { repositories: ['r.example/team/app'] });
  assert.equal(await records.read(hex('b')), undefined);
  await writeFile(join(records.dir, `${hex('c')}.json`), '{"repositories": ["cut sh');
  assert.equal(await records.read(hex('c')), undefined);
  await writeFile(join(records.dir, `${hex('d')}.json`), '{"repositories": "not a list"}');
  assert.equal(await records.read(hex('d')), undefined);
  assert.deepEqual((await records.keys()).sort(), [hex('a'), hex('c'), hex('d')]);
  assert.equal(await records.has(hex('a')), true);
});

test('a hand-written check sees the parsed JSON, or undefined when it is not JSON', async () => {
  const seen: unknown[] = [];
  const records = new Records(root, 'stat', (json) => (seen.push(json), typeof json === 'number' ? json : undefined));
  await records.write('k1', 7);
  await writeFile(join(records.dir, 'k2.json'), 'not json');
  assert.equal(await records.read('k1'), 7);
  assert.equal(await records.read('k2'), undefined);
  assert.deepEqual(seen, [7, undefined]);
});

test('a key that could leave its keyspace is refused', async () => {
  const records = new Records(root, 'layers', Sources);
  for (const key of ['../escape', 'a/b', '', '.hidden', 'UPPER']) await assert.rejects(records.read(key), /not a cache key/);
});

test('prune removes the build cache whole, keeps blob records while their blob is there, and drops the old locations', async () => {
  const store = join(root, 'store');
  const kept: Digest = `sha256:${hex('1')}`;
  const gone: Digest = `sha256:${hex('2')}`;
  const descriptor = (digest: Digest) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: 1 });
  await new Records(store, 'layers', z.unknown()).write(hex('3'), {});
  await new Records(store, 'layers', z.unknown()).write(hex('4'), {});
  await new Records(store, 'steps', z.unknown()).write(hex('5'), {});
  await new Records(store, 'layer-facts', z.unknown()).write(`${hex('1')}-${hex('6')}`, {});
  await mkdir(join(cacheRoot(store), 'rootfs-index'), { recursive: true });
  const compressed = new Records(store, 'compressed', z.unknown());
  await compressed.write(`gzip-${hex('7')}`, descriptor(kept));
  await compressed.write(`zstd-${hex('7')}`, descriptor(gone));
  await writeFile(join(compressed.dir, `gzip-${hex('8')}.json`), 'damaged');
  const layerKeys = new Records(store, 'layer-keys', z.unknown());
  await layerKeys.write(`gzip-${hex('9')}`, { descriptor: descriptor(kept), diffId: `sha256:${hex('7')}` });
  await layerKeys.write(`gzip-${hex('a')}`, { descriptor: descriptor(gone), diffId: `sha256:${hex('7')}` });
  const sources = new Records(store, 'blob-sources', Sources);
  await sources.write(hex('1'), { repositories: ['r.example/a'] });
  await sources.write(hex('2'), { repositories: ['r.example/a'] });
  for (const old of ['compressed/gzip', 'layer-keys/gzip', 'blob-sources']) await mkdir(join(store, old), { recursive: true });

  const removed = await pruneCache(store, async (digest) => digest === kept);
  assert.equal(removed, 2, 'the layer cache entries removed');
  assert.deepEqual((await readdir(cacheRoot(store))).sort(), ['blob-sources', 'compressed', 'layer-keys']);
  assert.deepEqual(await compressed.keys(), [`gzip-${hex('7')}`]);
  assert.deepEqual(await layerKeys.keys(), [`gzip-${hex('9')}`]);
  assert.deepEqual(await sources.keys(), [hex('1')]);
  assert.deepEqual((await readdir(store)).sort(), ['cache']);
});

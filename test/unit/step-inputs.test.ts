import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { LayerCache, StatCache } from '../../src/builder/cache.js';
import { BuildContext } from '../../src/builder/context.js';
import { StepInputs } from '../../src/builder/step-inputs.js';
import { writeTar } from '../../src/layer/tar-writer.js';
import type { Digest } from '../../src/oci/digest.js';
import { Store } from '../../src/store/store.js';
import { removeDir, tempDir } from '../helpers/cli.js';

let dir: string;
let store: Store;
let context: BuildContext;

before(async () => {
  dir = await tempDir();
  store = await Store.open(join(dir, 'root'));
  await mkdir(join(dir, 'ctx', 'etc'), { recursive: true });
  await writeFile(join(dir, 'ctx', 'etc', 'a.conf'), 'a = 1\n');
  await writeFile(join(dir, 'ctx', 'etc', 'b.conf'), 'b = 2\n');
  await writeFile(join(dir, 'ctx', 'etc', 'empty'), '');
  context = await BuildContext.open(join(dir, 'ctx'), (message) => assert.fail(message));
});
after(() => removeDir(dir));

async function inputs(deferred: boolean): Promise<StepInputs> {
  const resolved = (await context.resolve('etc', 'COPY', { file: 'Kubefile', line: 1, col: 1 })).map((src) => ({ src }));
  return StepInputs.collect(resolved, { statCache: await StatCache.load(store, context.root), ignored: () => false, deferred });
}

test('a deferred step learns its digests from the layer and ends with the key hashing first gives', async () => {
  const hashed = await inputs(false);
  assert.equal(hashed.complete, true);
  const deferred = await inputs(true);
  assert.equal(deferred.complete, false, 'nothing was read');
  assert.throws(() => deferred.key(), /not complete/);
  // What writing the layer learns: every non-empty file it read.
  const learnt = new Map<string, Digest>();
  for (const name of ['a.conf', 'b.conf']) {
    const abs = join(context.root, 'etc', name);
    learnt.set(abs, `sha256:${createHash('sha256').update(await readFile(abs)).digest('hex')}`);
  }
  await deferred.learn(learnt, Date.now());
  assert.equal(deferred.complete, true, 'the empty file the layer never read was hashed');
  assert.deepEqual(deferred.key(), hashed.key());
});

test('the layer writer learns the same digests as hashing each file', async () => {
  const entries = ['a.conf', 'b.conf'].map((name) => ({ path: name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: 6, source: join(context.root, 'etc', name) }));
  const learnt = new Map<string, Digest>();
  for await (const _ of writeTar(entries, new Date(0), learnt)) void _;
  const hashed = await inputs(false);
  const named = hashed.name(entries);
  assert.deepEqual(new Map(named.map((e) => [e.source!, e.digest])), learnt);
});

test('the stat cache hashes a file read whole and one read in chunks to the sha256 of its bytes', async () => {
  // 3 MiB and a bit: three full 1 MiB reads and a short one; each byte depends on its offset.
  const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0);
  for (let i = 0; i < big.length; i++) big[i] = (i * 131 + (i >> 12)) & 0xff;
  const path = join(dir, 'big.bin');
  await writeFile(path, big);
  const cache = await StatCache.load(store, join(dir, 'elsewhere'));
  const sha = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
  assert.equal(await cache.digest(path), sha(big));
  assert.equal(await cache.digest(join(context.root, 'etc', 'a.conf')), sha('a = 1\n'));
});

test('the stat cache knows a remembered file after a commit and a reload, until any of its identity changes; a wrong-shaped record is a miss', async () => {
  const root = join(dir, 'stat-ctx');
  await mkdir(root, { recursive: true });
  const file = join(root, 'f.txt');
  await writeFile(file, 'content\n');
  const stats = await lstat(file);
  // Not the file's digest: a hit must come from the record, not from reading the file.
  const remembered: Digest = `sha256:${'ab'.repeat(32)}`;
  const cache = await StatCache.load(store, root);
  cache.remember(file, stats, remembered, stats.ctimeMs + 3000);
  const batch = await store.beginBatch();
  cache.saveOnCommit(batch);
  await batch.commit();

  const reloaded = await StatCache.load(store, root);
  assert.equal(reloaded.known(file, stats), remembered);
  for (const field of ['size', 'mtimeMs', 'ctimeMs', 'ino', 'dev'] as const) {
    assert.equal(reloaded.known(file, { ...stats, [field]: stats[field] + 1 } as Stats), undefined, `${field} changed`);
  }

  // One record per context directory, named by the sha256 of its path.
  const path = join(store.root, 'cache', 'stat', `${createHash('sha256').update(root).digest('hex')}.json`);
  const saved = JSON.parse(await readFile(path, 'utf8')) as { files: Record<string, unknown[]> };
  saved.files['f.txt'] = saved.files['f.txt']!.slice(1);
  await writeFile(path, JSON.stringify(saved));
  const damaged = await StatCache.load(store, root);
  assert.equal(damaged.known(file, stats), undefined);
  assert.equal(await damaged.digest(file, stats), `sha256:${createHash('sha256').update('content\n').digest('hex')}`);
});

test('a step marker is written once: a rebuild that knows the step leaves it as it was; with a remote cache every step counts as known and is still marked', async () => {
  const markerOf = (c: string) => join(store.root, 'cache', 'steps', `${c.repeat(32)}.json`);
  const step: Digest = `sha256:${'cd'.repeat(32)}`;
  const first = await store.beginBatch();
  const cache = new LayerCache(store, first);
  assert.equal(await cache.knowsStep(step), false);
  cache.markStep(step);
  await first.commit();
  const written = await lstat(markerOf('cd'));

  const again = await store.beginBatch();
  const rebuilt = new LayerCache(store, again);
  assert.equal(await rebuilt.knowsStep(step), true);
  rebuilt.markStep(step);
  await again.commit();
  // An atomic rewrite (temp file and rename) would give the marker a new inode.
  assert.equal((await lstat(markerOf('cd'))).ino, written.ino, 'the marker was not written again');

  const remote = await store.beginBatch();
  const withRemote = new LayerCache(store, remote, { fetch: async () => undefined });
  const other: Digest = `sha256:${'ef'.repeat(32)}`;
  assert.equal(await withRemote.knowsStep(other), true);
  withRemote.markStep(other);
  await remote.commit();
  assert.ok((await lstat(markerOf('ef'))).isFile(), 'a step built with a remote cache is marked too');
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { StatCache } from '../../src/builder/cache.js';
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

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { findByTarKey, findCompressed, recordByTarKey, recordCompressed } from '../../src/layer/known-layers.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { Store } from '../../src/store/store.js';
import { removeDir, tempDir } from '../helpers/cli.js';

let root: string;
let store: Store;
before(async () => {
  root = await tempDir();
  store = await Store.open(root);
});
after(() => removeDir(root));

test('a committed batch moves its blobs into the layout; an aborted one leaves nothing', async () => {
  const kept = await store.beginBatch();
  const desc = await kept.writeStream(Readable.from([Buffer.from('hello '), Buffer.from('world')]), MediaType.ociLayer);
  assert.equal(desc.digest, sha256Digest('hello world'));
  assert.equal(desc.size, 11);
  assert.equal(await store.hasBlob(desc.digest), false, 'not visible before commit');
  await kept.commit();
  assert.equal((await store.readBlob(desc.digest)).toString(), 'hello world');

  const dropped = await store.beginBatch();
  const other = await dropped.writeBytes(Buffer.from('never stored'), MediaType.ociConfig);
  await dropped.abort();
  assert.equal(await store.hasBlob(other.digest), false);
  assert.deepEqual(await readdir(join(root, 'tmp')), []);
});

test('a blob that does not match its expected digest is refused and not staged', async () => {
  const batch = await store.beginBatch();
  await assert.rejects(
    batch.writeStream(Readable.from([Buffer.from('tampered')]), MediaType.ociLayer, { expected: { digest: sha256Digest('original'), size: 8 } }),
    /does not match its descriptor/,
  );
  await batch.commit();
  assert.equal(await store.hasBlob(sha256Digest('tampered')), false);
});

for (const hash of ['here', 'thread'] as const) {
  test(`a blob hashed ${hash} is written whole and in order through the write queue, and refused when it differs`, async () => {
    // 5 MiB in uneven chunks: more than the queue holds (and, on a thread, more than the hash's
    // stages in flight), so the source is paused and resumed.
    const content = randomBytes(5 * 1024 * 1024 + 123);
    const chunks = (): Readable => Readable.from((function* () {
      for (let at = 0, n = 1; at < content.length; at += n, n = (n * 7919) % 200_000 + 1) yield content.subarray(at, at + n);
    })());
    const batch = await store.beginBatch();
    const expected = { digest: sha256Digest(content), size: content.length };
    const desc = await batch.writeStream(chunks(), MediaType.ociLayer, { expected, hash });
    assert.deepEqual(desc, { mediaType: MediaType.ociLayer, ...expected });
    assert.ok((await readFile(batch.pathOf(desc.digest))).equals(content), 'the staged file holds the bytes in order');
    // One chunk larger than a hash thread's stages in flight: the source ends while its copy waits.
    assert.deepEqual(await batch.writeStream(Readable.from([content]), MediaType.ociLayer, { expected, hash }), desc);
    await assert.rejects(batch.writeStream(chunks(), MediaType.ociLayer, { expected: { digest: sha256Digest('other'), size: content.length }, hash }), /does not match its descriptor/);

    const failing = Readable.from((async function* () {
      yield content.subarray(0, 3 * 1024 * 1024);
      throw new Error('connection lost');
    })());
    await assert.rejects(batch.writeStream(failing, MediaType.ociLayer, { expected, hash }), /connection lost/);
    // A source that fails before its first byte, while the file is still being opened.
    const refused = new Readable({ read() {} });
    process.nextTick(() => refused.destroy(new Error('refused at once')));
    await assert.rejects(batch.writeStream(refused, MediaType.ociLayer, { expected, hash }), /refused at once/);
    assert.deepEqual((await readdir(batch.dir)).filter((name) => name.startsWith('incoming-')), [], 'nothing half written is left');
    await batch.abort();
  });
}

test('concurrent tag updates never lose each other', async () => {
  const batch = await store.beginBatch();
  const desc = await batch.writeBytes(Buffer.from('{}'), MediaType.ociManifest);
  await batch.commit();
  await Promise.all(Array.from({ length: 25 }, (_, i) => store.setTag(`docker.io/race/img:${i}`, desc)));
  const names = (await store.listTags()).map((t) => t.name).filter((n) => n.startsWith('docker.io/race/'));
  assert.equal(names.length, 25);
  assert.equal(await store.removeTag('docker.io/race/img:3'), true);
  assert.equal(await store.removeTag('docker.io/race/img:3'), false);
});

test('setting a tag to where it points leaves index.json alone; a move or a second tag rewrites it', async () => {
  const store = await Store.open(join(root, 'same-tag'));
  const batch = await store.beginBatch();
  const one = await batch.writeBytes(Buffer.from('{"one":1}'), MediaType.ociManifest);
  const two = await batch.writeBytes(Buffer.from('{"two":2}'), MediaType.ociManifest);
  await batch.commit();
  const index = join(store.root, 'oci', 'index.json');
  await store.setTag('docker.io/same/img:1', one);
  const inode = (await stat(index)).ino;
  await store.setTag('docker.io/same/img:1', { ...one });
  assert.equal((await stat(index)).ino, inode, 'the same tag again: not rewritten');
  await store.setTags([{ name: 'docker.io/same/img:1', descriptor: one }, { name: 'docker.io/same/img:2', descriptor: one }]);
  const withSecond = (await stat(index)).ino;
  assert.notEqual(withSecond, inode, 'a new tag among them: rewritten');
  await store.setTag('docker.io/same/img:1', two);
  assert.notEqual((await stat(index)).ino, withSecond, 'a moved tag: rewritten');
  assert.equal((await store.resolveTag('docker.io/same/img:1'))?.digest, two.digest);
  assert.equal((await store.resolveTag('docker.io/same/img:2'))?.digest, one.digest);
});

test('a corrupt blob in the store is reported, not trusted', async () => {
  const batch = await store.beginBatch();
  const desc = await batch.writeBytes(Buffer.from('{"a":1}'), MediaType.ociConfig);
  await batch.commit();
  await writeFile(store.blobPath(desc.digest), '{"a":2}');
  await assert.rejects(store.readBlob(desc.digest), /is corrupt/);
});

test('a blob of the store cut short (blob data is not fsynced) is written again, not trusted by size', async () => {
  const content = Buffer.from('a layer that a power loss cut short');
  const first = await store.beginBatch();
  const desc = await first.writeStream(Readable.from([content]), MediaType.ociLayer);
  await first.commit();
  await writeFile(store.blobPath(desc.digest), content.subarray(0, 7));
  assert.equal(await store.hasBlob(desc.digest), true);
  assert.equal(await store.hasBlob(desc.digest, desc.size), false, 'the wrong size is not the blob');

  const again = await store.beginBatch();
  await again.writeStream(Readable.from([content]), MediaType.ociLayer, { expected: { digest: desc.digest, size: desc.size } });
  assert.equal(again.has(desc.digest), true, 'staged, not dropped as already stored');
  await again.commit();
  assert.deepEqual(await readFile(store.blobPath(desc.digest)), content);

  const small = await store.beginBatch();
  const config = await small.writeBytes(Buffer.from('{"b":1}'), MediaType.ociConfig);
  await small.commit();
  await writeFile(store.blobPath(config.digest), '');
  const refill = await store.beginBatch();
  await refill.writeBytes(Buffer.from('{"b":1}'), MediaType.ociConfig);
  await refill.commit();
  assert.equal((await store.readBlob(config.digest)).toString(), '{"b":1}');
});

test('a known-layer record counts only while its blob is whole (blob data is not fsynced)', async () => {
  const diffId = sha256Digest('the tar');
  const tarKey = sha256Digest('the entries');
  const first = await store.beginBatch();
  const descriptor = await first.writeStream(Readable.from([Buffer.from('a gzip layer, say')]), MediaType.ociLayerGzip);
  await recordCompressed(first, 'gzip', diffId, descriptor);
  await recordByTarKey(first, 'gzip', tarKey, { descriptor, diffId });
  await first.commit();

  const whole = await store.beginBatch();
  assert.equal((await findCompressed(whole, 'gzip', diffId))?.digest, descriptor.digest);
  assert.equal((await findByTarKey(whole, 'gzip', tarKey))?.descriptor.digest, descriptor.digest);
  await whole.abort();

  // What a power loss can leave: the blob under its name, cut short.
  await writeFile(store.blobPath(descriptor.digest), 'a gzip');
  const cut = await store.beginBatch();
  assert.equal(await findCompressed(cut, 'gzip', diffId), undefined);
  assert.equal(await findByTarKey(cut, 'gzip', tarKey), undefined);
  await cut.abort();
});

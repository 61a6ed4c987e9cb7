import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { registryLayout } from '../../src/airgap/registry-layout.js';
import { IMAGES_LOCK_PATH, isImageDocument } from '../../src/airgap/documents.js';
import { writeTar, type LayerEntry } from '../../src/layer/tar-writer.js';
import { writeLayer } from '../../src/layer/layer-writer.js';
import { sha256Digest, type Digest } from '../../src/oci/digest.js';
import { Store } from '../../src/store/store.js';
import { MediaType } from '../../src/oci/media-types.js';
import { checkLayerFacts, type LayerFacts } from '../../src/runtime/layer-facts.js';
import { LayerFactsMemo } from '../../src/runtime/layer-view.js';
import { removeDir, tempDir } from '../helpers/cli.js';

// The layer-facts memo is read back with a check written by hand (runtime/layer-facts.ts):
// a memo of the right shape is taken as it is, and any field of the wrong shape makes it a
// miss (the layer is scanned again), never facts a check downstream would trust.

const memo = (): LayerFacts => ({
  version: 4,
  entries: {
    bin: { type: 'directory', mode: 0o755, size: 0 },
    'bin/k3s': { type: 'file', mode: 0o755, size: 10, elf: { machine: 62, bits: 64, endian: 'little' }, sha256: 'ab', sha1: 'cd', go: { go: 'go1.24', path: 'k3s', module: 'github.com/k3s-io/k3s', version: 'v1' } },
    'bin/link': { type: 'symlink', mode: 0o777, size: 0, linkname: 'k3s' },
    Metadata: { type: 'file', mode: 0o644, size: 2, content: 'e30=' },
    'images/registry.tar.gz': { type: 'file', mode: 0o644, size: 5, archive: 'placeholder' },
  },
  removed: ['etc/old'],
  opaque: ['var'],
});

test('a memo of the right shape is read as it was written', () => {
  const written = memo();
  assert.deepEqual(checkLayerFacts(JSON.parse(JSON.stringify(written))), written);
  assert.deepEqual(checkLayerFacts({ version: 4, entries: {}, removed: [], opaque: [] }), { version: 4, entries: {}, removed: [], opaque: [] });
});

test('a memo with any field of the wrong shape is a miss', () => {
  const broken: [string, (m: Record<string, any>) => void][] = [
    ['another version', (m) => (m.version = 3)],
    ['entries not an object', (m) => (m.entries = [])],
    ['removed not strings', (m) => (m.removed = [1])],
    ['opaque missing', (m) => delete m.opaque],
    ['an entry not an object', (m) => (m.entries.x = 'file')],
    ['an unknown type', (m) => (m.entries.bin.type = 'socket')],
    ['a fractional mode', (m) => (m.entries.bin.mode = 1.5)],
    ['a negative size', (m) => (m.entries.bin.size = -1)],
    ['a size as text', (m) => (m.entries.bin.size = '0')],
    ['a linkname not a string', (m) => (m.entries['bin/link'].linkname = 7)],
    ['ELF bits other than 32 or 64', (m) => (m.entries['bin/k3s'].elf.bits = 16)],
    ['ELF endianness unknown', (m) => (m.entries['bin/k3s'].elf.endian = 'middle')],
    ['ELF machine missing', (m) => delete m.entries['bin/k3s'].elf.machine],
    ['content not a string', (m) => (m.entries.Metadata.content = {})],
    ['an unknown archive kind', (m) => (m.entries['images/registry.tar.gz'].archive = 'zip')],
    ['sha256 not a string', (m) => (m.entries['bin/k3s'].sha256 = 1)],
    ['sha1 not a string', (m) => (m.entries['bin/k3s'].sha1 = null)],
    ['go without its version of Go', (m) => delete m.entries['bin/k3s'].go.go],
    ['go module not a string', (m) => (m.entries['bin/k3s'].go.module = 1)],
  ];
  for (const [what, damage] of broken) {
    const m = JSON.parse(JSON.stringify(memo()));
    damage(m);
    assert.equal(checkLayerFacts(m), undefined, what);
  }
  for (const json of [null, 'text', 4, []]) assert.equal(checkLayerFacts(json), undefined, JSON.stringify(json));
});

test('the registry/ layer: facts from its entries are the facts a scan of its tar finds; a file on disk that would be looked inside means a scan', async () => {
  const dir = await tempDir();
  try {
    const blob = join(dir, 'blob');
    await writeFile(blob, Buffer.alloc(300 * 1024, 7));
    const digest = sha256Digest(await readFile(blob));
    const images = [{ repository: 'team/app', tag: 'v1', top: { mediaType: MediaType.ociManifest, digest: sha256Digest('m'), size: 1 }, manifests: [], blobs: [{ mediaType: MediaType.ociLayerGzip, digest, size: 300 * 1024 }] }];
    const entries: LayerEntry[] = [
      ...registryLayout(images, (d) => (d === digest ? blob : join(dir, 'manifest'))),
      { path: IMAGES_LOCK_PATH, type: 'file', mode: 0o644, uid: 0, gid: 0, content: Buffer.from('[]\n'), size: 3 },
      { path: 'manifests/app.yaml', type: 'file', mode: 0o600, uid: 0, gid: 0, content: Buffer.from('image: x\n'), size: 9 },
      { path: 'registry/empty', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0 },
    ];
    await writeFile(join(dir, 'manifest'), 'm');
    const memo = new LayerFactsMemo(dir, isImageDocument);
    const fromEntries = await memo.ofEntries(entries);
    const scanned = await memo.scanTar(writeTar(entries, new Date(0)));
    assert.ok(fromEntries);
    assert.equal(JSON.stringify(fromEntries), JSON.stringify(scanned), 'the same facts, in the same order');
    assert.ok(Object.keys(scanned.entries).some((p) => p.endsWith('/link') && scanned.entries[p]!.content !== undefined), 'link contents are kept');

    // A binary from disk outside registry/ is looked inside (ELF header, SBOM hashes): no shortcut.
    assert.equal(await memo.ofEntries([...entries, { path: 'bin/tool', type: 'file', mode: 0o755, uid: 0, gid: 0, size: 300 * 1024, source: blob }]), undefined);
  } finally {
    await removeDir(dir);
  }
});

// A layer the build writes is scanned as its tar streams past, and a file's sha256 is the digest
// the tar writer learns of the same bytes (LayerOptions.learn): the scan takes it from there
// instead of hashing the file again. The facts must be those a scan of the tar alone finds.
test('the facts of a layer written with learnt digests are those a scan of its tar finds', async () => {
  const dir = await tempDir();
  try {
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), randomBytes(3 * 1024 * 1024)]);
    const files: [string, Buffer][] = [
      ['bin/tool', elf],
      ['bin/script.sh', Buffer.from('#!/bin/sh\necho hi\n')],
      ['usr/lib/libx.so', elf.subarray(0, 100 * 1024)],
      ['etc/config.yaml', Buffer.from('a: 1\n')],
    ];
    const entries: LayerEntry[] = [];
    for (const [path, content] of files) {
      const source = join(dir, path.replaceAll('/', '_'));
      await writeFile(source, content);
      entries.push({ path, type: 'file', mode: 0o755, uid: 0, gid: 0, size: content.length, source });
    }
    const memo = new LayerFactsMemo(dir, () => false);
    const store = await Store.open(join(dir, 'store'));
    const batch = await store.beginBatch();
    const learn = new Map<string, Digest>();
    for (const compression of ['none', 'zstd'] as const) {
      const layer = await writeLayer(entries, { mtime: new Date(0), compression, inspect: memo.scanTar, learn }, batch);
      const scanned = await memo.scanTar(writeTar(entries, new Date(0)));
      assert.equal(JSON.stringify(layer.inspected), JSON.stringify(scanned), compression);
      for (const [path, content] of files.slice(0, 3)) {
        assert.equal(layer.inspected!.entries[path]!.sha256, createHash('sha256').update(content).digest('hex'), `${compression} ${path}`);
        assert.equal(layer.inspected!.entries[path]!.sha1, createHash('sha1').update(content).digest('hex'), `${compression} ${path}`);
      }
    }
    await batch.abort();
  } finally {
    await removeDir(dir);
  }
});

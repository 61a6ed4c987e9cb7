import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GZIP_CHUNK_SIZE } from '../../src/layer/gzip-parallel.js';
import { removeDir, run, sealbuild, sealbuildOk, snapshot, tempDir, tool } from '../helpers/cli.js';

/** Through the CLI, checked by tools written elsewhere: skopeo (zstd), umoci and gzip (gzip). */
let work: string;
let ctx: string;
let big: Buffer;
before(async () => {
  tool('skopeo', 'skopeo');
  tool('umoci', 'umoci');
  tool('zstd', 'zstd');
  work = await tempDir();
  ctx = join(work, 'ctx');
  await mkdir(join(ctx, 'etc'), { recursive: true });
  // Several gzip chunks, so the layer is several members.
  big = Buffer.alloc(3 * GZIP_CHUNK_SIZE + 99);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 12)) & 0xff;
  await writeFile(join(ctx, 'k3s'), big, { mode: 0o755 });
  await writeFile(join(ctx, 'etc', 'config.yaml'), 'cluster-init: true\n');
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY k3s /bin/\nCOPY etc /etc\n');
});
after(() => removeDir(work));

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface Inspected {
  manifest: { layers: { mediaType: string; digest: string }[] };
  config: { rootfs: { diff_ids: string[] } };
}

async function inspect(root: string, ref: string): Promise<Inspected> {
  return JSON.parse((await sealbuildOk(root, ['inspect', '--json', ref])).stdout) as Inspected;
}

test('a zstd build is read by skopeo, and its layers decompress to their diff_ids', async () => {
  const root = join(work, 'zstd-root');
  await sealbuildOk(root, ['-t', 'test/zstd:v1', '--compression', 'zstd', ctx]);
  const info = await inspect(root, 'test/zstd:v1');
  assert.deepEqual(info.manifest.layers.map((l) => l.mediaType), Array(2).fill('application/vnd.oci.image.layer.v1.tar+zstd'));

  const ref = `oci:${join(root, 'oci')}:docker.io/test/zstd:v1`;
  const raw = JSON.parse(run('skopeo', ['inspect', '--raw', ref]));
  assert.deepEqual(raw.layers, info.manifest.layers);
  // Debian's umoci (0.4.7) predates zstd layers; skopeo's own decoder unpacks them instead.
  const dir = join(work, 'zstd-dir');
  run('skopeo', ['copy', '--dest-decompress', ref, `dir:${dir}`]);
  for (const diffId of info.config.rootfs.diff_ids) {
    const tar = await readFile(join(dir, diffId.slice('sha256:'.length)));
    assert.equal(sha256(tar), diffId);
  }
  const out = join(work, 'zstd-files');
  await mkdir(out);
  run('tar', ['-xf', join(dir, info.config.rootfs.diff_ids[0]!.slice('sha256:'.length)), '-C', out]);
  assert.ok((await readFile(join(out, 'bin', 'k3s'))).equals(big));
});

test('a multi-member gzip build unpacks with umoci; the same build twice gives one digest', async () => {
  const root = join(work, 'gzip-root');
  const first = (await sealbuildOk(root, ['-t', 'test/gzip:v1', ctx])).stdout.trim();
  const info = await inspect(root, 'test/gzip:v1');
  const blob = join(root, 'oci', 'blobs', 'sha256', info.manifest.layers[0]!.digest.slice('sha256:'.length));
  run('gzip', ['-t', blob]);
  const bundle = join(work, 'bundle');
  run('umoci', ['unpack', '--rootless', '--image', `${join(root, 'oci')}:docker.io/test/gzip:v1`, bundle]);
  assert.ok((await readFile(join(bundle, 'rootfs', 'bin', 'k3s'))).equals(big));

  // A rebuild reuses the compressed layers; a fresh store compresses again, to the same bytes.
  assert.equal((await sealbuildOk(root, ['-t', 'test/gzip:v2', ctx])).stdout.trim(), first);
  assert.equal((await sealbuildOk(join(work, 'fresh-root'), ['-t', 'test/gzip:v1', ctx])).stdout.trim(), first);
});

test('zstd missing: one line naming the package, exit 1, the store untouched', async () => {
  const root = join(work, 'no-zstd-root');
  await sealbuildOk(root, ['prune']); // creates the empty store (read-only commands create none)
  const before = await snapshot(root);
  const emptyPath = join(work, 'empty-path');
  await mkdir(emptyPath);
  const result = await sealbuild(root, ['-t', 'test/zstd:v1', '--compression', 'zstd', ctx], { env: { PATH: emptyPath } });
  assert.equal(result.code, 1);
  const errors = result.stderr.split('\n').filter((line) => line.startsWith('Error:'));
  assert.deepEqual(errors, ['Error: cannot compress a layer with zstd: "zstd" is not installed (hint: install it, e.g. apt-get install zstd)']);
  assert.deepEqual(await snapshot(root), before);
});

test('--compression names the values it accepts', async () => {
  const result = await sealbuild(join(work, 'flag-root'), ['-t', 'test/x:v1', '--compression', 'brotli', ctx]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^Error: --compression: unknown value "brotli" \(hint: use gzip, zstd, none\)$/m);
});

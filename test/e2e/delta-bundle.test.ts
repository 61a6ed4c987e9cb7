import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, sealbuild, sealbuildOk, snapshot, tempDir } from '../helpers/cli.js';

/*
 * Upgrading an airgapped site: `save NEW --since OLD` carries only what OLD lacks; `load`
 * completes it from the store, or refuses in one line naming OLD.
 */

let work: string;
let root: string;
/** Sizes of the bundles, reported for README's recipe. */
const sizes: Record<string, number> = {};

async function cluster(tag: string, k3s: Buffer, kubectl: Buffer): Promise<void> {
  const ctx = join(work, tag.replace(/[/:]/g, '-'));
  await mkdir(join(ctx, 'bin', 'k3s'), { recursive: true });
  await mkdir(join(ctx, 'bin', 'kubectl'), { recursive: true });
  await writeFile(join(ctx, 'bin', 'k3s', 'k3s'), k3s);
  await writeFile(join(ctx, 'bin', 'kubectl', 'kubectl'), kubectl);
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY bin/k3s/ bin/\nCOPY bin/kubectl/ bin/\n');
  await sealbuildOk(root, ['-t', tag, '--platform', 'linux/amd64,linux/arm64', ctx]);
}

before(async () => {
  work = await tempDir();
  root = join(work, 'root');
  // Random bytes do not compress: layer sizes are the binaries' sizes.
  const kubectl = randomBytes(4 * 1024 * 1024);
  await cluster('site/cluster:v1', randomBytes(8 * 1024 * 1024), kubectl);
  await cluster('site/cluster:v2', randomBytes(8 * 1024 * 1024), kubectl);
});
after(async () => {
  await removeDir(work);
});

test('save --since: the delta holds only what changed; load refuses it without the base and completes it with', async (t) => {
  const full = join(work, 'v1.tar.zst');
  const delta = join(work, 'upgrade.tar.zst');
  await sealbuildOk(root, ['save', 'site/cluster:v1', '-o', full]);
  const saved = await sealbuildOk(root, ['save', 'site/cluster:v2', '--since', 'site/cluster:v1', '-o', delta]);
  assert.match(saved.stderr, /upgrade\.tar\.zst is a delta: loading it needs docker\.io\/site\/cluster:v1 \(sha256:[0-9a-f]{64}\) in the store/);
  sizes.full = (await stat(full)).size;
  sizes.delta = (await stat(delta)).size;
  // The changed 8 MiB binary (one layer, the same bytes on both platforms) and the manifests;
  // the unchanged 4 MiB kubectl layer left out.
  assert.ok(sizes.delta > 8 * 1024 * 1024 && sizes.delta < 8.1 * 1024 * 1024, `delta is ${sizes.delta} bytes`);
  assert.ok(sizes.full > 12 * 1024 * 1024, `full is ${sizes.full} bytes`);

  // The far side without v1: refused in one line naming it, nothing stored.
  const site = join(work, 'site-root');
  const refused = await sealbuild(site, ['--progress', 'quiet', 'load', '-i', delta]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(refused.stderr, /a delta bundle that needs docker\.io\/site\/cluster:v1@sha256:[0-9a-f]{64} in the store .*hint: load the bundle of that image first/);
  assert.deepEqual((await snapshot(site)).filter((line) => line.startsWith('oci/blobs/') || line.startsWith('tmp/')), [], 'no blob stored');
  assert.deepEqual(JSON.parse((await sealbuildOk(site, ['images', '--json'])).stdout), [], 'no image tagged');

  // With v1 loaded, the delta completes v2 with the same digest it had where it was built.
  await sealbuildOk(site, ['load', '-i', full]);
  const loaded = await sealbuildOk(site, ['load', '-i', delta]);
  const built = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'site/cluster:v2'])).stdout) as { digest: string };
  assert.equal(loaded.stdout.trim(), `docker.io/site/cluster:v2 ${built.digest}`);
  const out = join(work, 'v2-rootfs');
  await sealbuildOk(site, ['export', 'site/cluster:v2', '--platform', 'linux/arm64', '-o', out]);
  assert.equal((await stat(join(out, 'bin', 'k3s'))).size, 8 * 1024 * 1024);
  t.diagnostic(`bundle sizes: v1 whole ${sizes.full} bytes, v2 --since v1 ${sizes.delta} bytes`);
});

test('save --since applies to oci-archive only', async () => {
  const result = await sealbuild(root, ['save', 'site/cluster:v2', '--since', 'site/cluster:v1', '--format', 'oci-dir', '-o', join(work, 'dir')]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--since applies to --format oci-archive only/);
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, run, sealbuildOk, tempDir } from '../helpers/cli.js';
import { goTool } from '../helpers/go-tools.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

/*
 * oras as one more independent reader of what sealbuild pushes: it fetches our manifests,
 * indexes and blobs by digest, and copies the whole graph from one real registry to another,
 * from which sealbuild pulls the same digests back.
 */

let work: string;
let root: string;
let oras: string;
let a: Registry;
let b: Registry;
const stops: (() => Promise<void>)[] = [];

const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** oras's stdout as bytes (manifests must hash to their digest exactly). */
function orasBytes(args: string[]): Buffer {
  const file = join(work, 'oras-out');
  run(oras, [...args, '--output', file]);
  return readFileSync(file);
}

before(async () => {
  oras = goTool('oras');
  work = await tempDir();
  root = join(work, 'root');
  a = await startRegistry();
  b = await startRegistry();
  stops.push(a.stop, b.stop);
  const ctx = join(work, 'ctx');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'a.txt'), 'read by oras\n');
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY a.txt /\nCOPY a.txt /${ARCH}.txt\n');
  await sealbuildOk(root, ['-t', 'oras/multi:1', '--platform', 'linux/amd64,linux/arm64', ctx]);
  await sealbuildOk(root, ['push', 'oras/multi:1', `${a.host}/team/multi:1`]);
});
after(async () => {
  for (const stop of stops.reverse()) await stop();
  await removeDir(work);
});

test('oras reads our index, its manifests and blobs by digest', async () => {
  const info = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'oras/multi:1'])).stdout) as { digest: string; images: { digest: string; platform: string; manifest: { config: { digest: string }; layers: { digest: string; size: number }[] } }[] };
  const index = orasBytes(['manifest', 'fetch', '--plain-http', `${a.host}/team/multi:1`]);
  assert.equal(sha256(index), info.digest);
  assert.deepEqual((JSON.parse(index.toString()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest).sort(), info.images.map((i) => i.digest).sort());
  for (const image of info.images) {
    // By platform through the index, as a node of that platform resolves it.
    const manifest = orasBytes(['manifest', 'fetch', '--plain-http', '--platform', image.platform, `${a.host}/team/multi:1`]);
    assert.equal(sha256(manifest), image.digest, image.platform);
    for (const blob of [image.manifest.config, ...image.manifest.layers]) {
      const bytes = orasBytes(['blob', 'fetch', '--plain-http', `${a.host}/team/multi@${blob.digest}`]);
      assert.equal(sha256(bytes), blob.digest);
    }
  }
  // A digest the registry does not hold is an error for oras too (the check is not vacuous).
  assert.throws(() => run(oras, ['blob', 'fetch', '--plain-http', '--output', join(work, 'none'), `${a.host}/team/multi@${sha256('absent')}`]), /not found|unknown/i);
});

test('oras copy moves our index between two registries; sealbuild pulls the same digests back', async () => {
  run(oras, ['copy', '--from-plain-http', '--to-plain-http', `${a.host}/team/multi:1`, `${b.host}/mirror/multi:1`]);
  const index = orasBytes(['manifest', 'fetch', '--plain-http', `${b.host}/mirror/multi:1`]);
  const pushed = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'oras/multi:1'])).stdout) as { digest: string };
  assert.equal(sha256(index), pushed.digest);
  const pullRoot = join(work, 'pull-root');
  await sealbuildOk(pullRoot, ['pull', '--all-platforms', `${b.host}/mirror/multi:1`]);
  const pulled = JSON.parse((await sealbuildOk(pullRoot, ['inspect', '--json', `${b.host}/mirror/multi:1`])).stdout) as { digest: string; images: { platform: string }[] };
  assert.equal(pulled.digest, pushed.digest);
  assert.deepEqual(pulled.images.map((i) => i.platform).sort(), ['linux/amd64', 'linux/arm64']);
});

/*
 * The snapshot diff (layer/diff.ts), the RUN change finder used where overlayfs cannot be
 * mounted: it must tell a replaced directory from an edited one on its own, however the
 * filesystem hands out inode numbers.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { diffSnapshot, takeSnapshot } from '../../src/layer/diff.js';
import { removeDir, tempDir } from '../helpers/cli.js';

let work: string;
before(async () => (work = await tempDir('sealbuild-diff-')));
after(() => removeDir(work));

const options = { owner: () => ({ uid: 0, gid: 0 }), warn: (m: string) => assert.fail(m) };

/** A rootfs with d/ holding two files, and the paths of the layer that `change` makes of it. */
async function layerPaths(name: string, change: (root: string) => Promise<void>): Promise<string[]> {
  const root = join(work, name);
  await mkdir(join(root, 'd'), { recursive: true });
  await writeFile(join(root, 'd', 'a'), 'a\n');
  await writeFile(join(root, 'd', 'b'), 'b\n');
  const before = await takeSnapshot(root);
  await change(root);
  return (await diffSnapshot(root, before, options)).map((e) => e.path).sort();
}

test('a directory removed and made again is replaced (opaque), even when it gets its old inode back', async () => {
  // ext4 reuses a freed inode at once, which made this a whiteout of d/a and d/b now and then.
  for (let i = 0; i < 20; i++) {
    const paths = await layerPaths(`replaced-${i}`, async (root) => {
      await rm(join(root, 'd'), { recursive: true });
      await mkdir(join(root, 'd'));
      await writeFile(join(root, 'd', 'c'), 'c\n');
    });
    assert.deepEqual(paths, ['d', 'd/.wh..wh..opq', 'd/c'], `run ${i}`);
  }
});

test('a directory whose files are removed one by one keeps its lower content and gets whiteouts', async () => {
  const paths = await layerPaths('edited', async (root) => {
    await rm(join(root, 'd', 'a'));
    await writeFile(join(root, 'd', 'c'), 'c\n');
  });
  assert.deepEqual(paths, ['d', 'd/.wh.a', 'd/c']);
});

import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../src/util/fs-atomic.js';
import { removeDir, tempDir } from '../helpers/cli.js';

test('writeFileAtomic replaces a file whole, and a failed rename leaves no temp file beside its target', async () => {
  const dir = await tempDir();
  try {
    await writeFileAtomic(join(dir, 'f'), 'one');
    await writeFileAtomic(join(dir, 'f'), 'two');
    assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'two');
    await mkdir(join(dir, 'sub', 'inner'), { recursive: true });
    await assert.rejects(writeFileAtomic(join(dir, 'sub'), 'x'), { code: 'EISDIR' });
    assert.deepEqual((await readdir(dir)).sort(), ['f', 'sub']);
  } finally {
    await removeDir(dir);
  }
});

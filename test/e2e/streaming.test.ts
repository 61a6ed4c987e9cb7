import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, removeDir, sealbuildOk, tempDir, tool } from '../helpers/cli.js';

let work: string;
before(async () => {
  tool('/usr/bin/time', 'time');
  work = await tempDir();
});
after(() => removeDir(work));

test('COPY of a 1 GiB file streams: peak RSS stays under 200 MB', async () => {
  const ctx = join(work, 'ctx');
  await mkdir(ctx);
  const big = await open(join(ctx, 'big.bin'), 'w');
  await big.truncate(1024 ** 3); // sparse: quick to make and to compress, still 1 GiB to stream
  await big.close();
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY big.bin /data/\n');
  const run = spawnSync('/usr/bin/time', ['-v', process.execPath, CLI, '--root', join(work, 'root'), '--progress', 'quiet', '-t', 'test/big', ctx], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr)?.[1]);
  assert.ok(rssKb > 0, run.stderr);
  assert.ok(rssKb < 200 * 1024, `peak RSS ${Math.round(rssKb / 1024)} MB`);
  const info = JSON.parse((await sealbuildOk(join(work, 'root'), ['inspect', '--json', 'test/big'])).stdout);
  assert.ok(info.manifest.layers[0].size < 10 * 1024 ** 2, 'zeros compress');
});

test('two builds at once into one store keep both tags', async () => {
  const root = join(work, 'shared-root');
  const contexts = await Promise.all(['one', 'two', 'three'].map(async (name) => {
    const dir = join(work, `ctx-${name}`);
    await mkdir(dir);
    await writeFile(join(dir, 'Kubefile'), `FROM scratch\nCOPY ${name}.txt /\n`);
    await writeFile(join(dir, `${name}.txt`), name);
    return { name, dir };
  }));
  await Promise.all(contexts.map(({ name, dir }) => sealbuildOk(root, ['-t', `test/concurrent:${name}`, dir])));
  const names = JSON.parse((await sealbuildOk(root, ['images', '--json'])).stdout).map((i: { name: string }) => i.name);
  assert.deepEqual(names, ['docker.io/test/concurrent:one', 'docker.io/test/concurrent:three', 'docker.io/test/concurrent:two']);
});

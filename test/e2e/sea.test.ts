import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, copyFile, cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO, removeDir, spawnCollect, tempDir } from '../helpers/cli.js';
import { sharedFixture } from '../helpers/fixtures.js';

// The single executable (#17 point 3): `npm run build:sea` makes dist/sealbuild-linux-<arch>,
// which is copied alone into an empty directory and run with a PATH that holds no node and a
// HOME of its own (its files are written out there), in a network namespace of its own.

let work: string;
let exe: string;

/** The executable with nothing of Node around it: empty PATH directory, own HOME, no network. */
async function sea(args: string[]): Promise<string> {
  const env = { HOME: join(work, 'home'), PATH: join(work, 'empty-path') };
  const result = await spawnCollect('/usr/bin/unshare', ['-n', exe, '--root', join(work, 'root'), '--progress', 'plain', ...args], { cwd: work, env });
  if (result.code !== 0) throw new Error(`sealbuild-linux ${args.join(' ')} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

before(async () => {
  const name = `sealbuild-linux-${process.arch}`;
  // Built once per run (both Nodes' passes test the same executable, made from Node 24).
  const built = await sharedFixture('single-executable', async (dir) => {
    const build = await spawnCollect(process.execPath, ['scripts/build-sea.mjs'], { cwd: REPO });
    assert.equal(build.code, 0, `npm run build:sea failed:\n${build.stdout}\n${build.stderr}`);
    await copyFile(join(REPO, 'dist', name), join(dir, name));
  });
  work = await tempDir('sealbuild-sea-');
  await mkdir(join(work, 'empty-path'));
  exe = join(work, name);
  await copyFile(join(built, name), exe);
  await spawnCollect('chmod', ['755', exe]);
});
after(async () => removeDir(work));

test('the single executable builds the offline example for two platforms and passes verify, with no node and no node_modules', async () => {
  // No node anywhere it could look: PATH is an empty directory, and nothing of the package is beside it.
  assert.deepEqual((await readdir(work)).sort(), ['empty-path', `sealbuild-linux-${process.arch}`]);
  await cp(join(REPO, 'examples', 'hello'), join(work, 'hello'), { recursive: true });
  const digest = await sea(['build', '-t', 'my/hello:v1', '--platform', 'linux/amd64,linux/arm64', 'hello']);
  assert.match(digest, /^sha256:[0-9a-f]{64}\n$/);
  const report = await sea(['verify', 'my/hello:v1']);
  assert.match(report, /verified: linux\/amd64, linux\/arm64/);
  assert.doesNotMatch(report, /FAIL/);
  // Its files were written out under HOME's cache, once.
  const cache = await readdir(join(work, 'home', '.cache', 'sealbuild'));
  assert.equal(cache.length, 1);
  await access(join(work, 'home', '.cache', 'sealbuild', cache[0]!, 'basefs', 'k3s', 'Kubefile'));
});

test('the single executable compresses with its gzip workers, saves, loads and scaffolds from templates/', async () => {
  await mkdir(join(work, 'big'));
  // 3 MiB: several 1 MiB gzip chunks, so the worker threads run.
  await writeFile(join(work, 'big', 'big.bin'), randomBytes(3 * 1024 * 1024));
  await writeFile(join(work, 'big', 'Kubefile'), 'FROM scratch\nCOPY big.bin /\n');
  await sea(['-t', 'sea/big:v1', 'big']);
  await sea(['save', 'sea/big:v1', 'my/hello:v1', '-o', 'bundle.tar.gz']);
  await sea(['rmi', 'sea/big:v1', 'my/hello:v1']);
  await sea(['prune']);
  await sea(['load', '-i', 'bundle.tar.gz']);
  assert.match(await sea(['images']), /sea\/big +v1 /);
  await sea(['init', '--runtime', 'k0s', 'scaffolded']);
  assert.match(await readFile(join(work, 'scaffolded', 'Kubefile'), 'utf8'), /^FROM /m);
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO, removeDir, run, tempDir, tool } from '../helpers/cli.js';

// The package as users install it: `npm pack`, then `npm install -g` of the tarball into a
// temporary prefix with no network and an empty npm cache, then the bin on PATH with no npx.

let work: string;
let prefix: string;
/** PATH with the installed bin and node, nothing of the repository. */
let path: string;

before(async () => {
  tool('unshare', 'util-linux');
  work = await tempDir();
  prefix = join(work, 'prefix');
  // npm test built dist/ already: pack what it built.
  const packed = run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: REPO }).trim().split('\n').at(-1)!;
  run('unshare', ['-n', 'npm', 'install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, '--cache', join(work, 'empty-cache'), join(work, packed)]);
  path = `${join(prefix, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`;
});
after(async () => {
  await removeDir(work);
});

function installed(args: string[], cwd = work): string {
  return run('env', [`PATH=${path}`, `SEALBUILD_ROOT=${join(work, 'root')}`, 'sealbuild', ...args], { cwd });
}

test('the package has no dependencies to fetch: every library is in the bundle', async () => {
  const manifest = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  assert.deepEqual(Object.keys(manifest.dependencies ?? {}), [], 'libraries are bundled into dist/cli: add them with npm install -D');
  const files = await readdir(join(prefix, 'lib', 'node_modules', 'sealbuild'));
  assert.deepEqual(files.sort(), ['README.md', 'basefs', 'dist', 'package.json', 'templates']);
  await assert.rejects(access(join(prefix, 'lib', 'node_modules', 'sealbuild', 'node_modules')));
});

test('the installed bin builds (gzip workers included), lists, verifies and scaffolds', async () => {
  const version = (JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(installed(['--version']).trim(), version);
  const ctx = join(work, 'ctx');
  await mkdir(ctx);
  // 3 MiB: several 1 MiB gzip chunks, so the worker threads run from the bundle.
  await writeFile(join(ctx, 'big.bin'), randomBytes(3 * 1024 * 1024));
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY big.bin /\n');
  const digest = installed(['-t', 'installed/app:v1', ctx]).trim();
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  assert.match(installed(['images']), /installed\/app +v1 /);
  // templates/ and basefs/ ship in the package: init reads both.
  installed(['init', '--runtime', 'k3s', join(work, 'scaffolded')]);
  assert.match(await readFile(join(work, 'scaffolded', 'Kubefile'), 'utf8'), /^FROM /m);
});

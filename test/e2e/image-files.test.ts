import assert from 'node:assert/strict';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, exampleContext, removeDir, run, sealbuild, sealbuildOk, tempDir, tool, type RunResult } from '../helpers/cli.js';

// Images that come as files (oci-archive:, oci:, docker-archive:) cached into registry/ with
// no network: every build here that reads them runs in a network namespace of its own
// (`unshare -n`: loopback only), so a fallback to a registry would fail the test.

let work: string;
let seedRoot: string;

/** `sealbuild ARGS` with no network at all. */
function offline(root: string, args: string[], cwd: string): Promise<RunResult> {
  return sealbuild(root, args, { cwd, offline: true });
}

async function files(dir: string, content: Record<string, string>): Promise<string> {
  for (const [path, text] of Object.entries(content)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

/** What a built image cached: images.lock's refs and platforms, from an export of it. */
async function cached(root: string, ref: string, platform: string): Promise<string[]> {
  const out = join(work, `export-${Math.random().toString(36).slice(2)}`);
  await sealbuildOk(root, ['export', ref, '--platform', platform, '-o', out]);
  const lock = JSON.parse(await readFile(join(out, 'images.lock'), 'utf8')) as { ref: string; platform: string }[];
  return lock.map((l) => `${l.ref} ${l.platform}`);
}

before(async () => {
  tool('unshare', 'util-linux');
  tool('skopeo', 'skopeo');
  work = await tempDir();
  seedRoot = join(work, 'seed');
  const ctx = await files(join(work, 'web'), { Kubefile: 'FROM scratch\nCOPY page.txt /${ARCH}.txt\n', 'page.txt': 'hello\n' });
  await sealbuildOk(seedRoot, ['-t', 'vendor/web:1.0', '--platform', 'linux/amd64,linux/arm64', ctx]);
  await sealbuildOk(seedRoot, ['-t', 'vendor/single:2.0', '--platform', 'linux/amd64', ctx]);
  await mkdir(join(work, 'shipped'));
  await sealbuildOk(seedRoot, ['save', 'vendor/web:1.0', 'vendor/single:2.0', '-o', join(work, 'shipped', 'both.tar.gz')]);
  await sealbuildOk(seedRoot, ['save', 'vendor/web:1.0', '--format', 'oci-dir', '-o', join(work, 'shipped', 'web-layout')]);
  await sealbuildOk(seedRoot, ['save', 'vendor/single:2.0', '--format', 'docker-archive', '--platform', 'linux/amd64', '-o', join(work, 'shipped', 'single-docker.tar')]);
  // As other tools write them: skopeo's oci-archive with a bare tag as its reference.
  run('skopeo', ['copy', `oci:${join(work, 'shipped', 'web-layout')}:docker.io/vendor/web:1.0`, `oci-archive:${join(work, 'shipped', 'bare-tag.tar')}:1.0`]);
});
after(async () => {
  await removeDir(work);
});

test('the example ClusterImage builds offline from its own files and passes verify', async () => {
  tool('bash', 'bash');
  const example = await exampleContext(join(work, 'hello'));
  // The real images, over the placeholder.
  run('bash', [join(example, 'make-images.sh'), process.execPath, CLI]);
  const root = join(work, 'example-root');
  const built = await offline(root, ['-t', 'example/hello:v0.1.0', '--platform', 'linux/amd64,linux/arm64', example], work);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stderr, /Reading docker\.io\/example\/hello-web:v1 from oci-archive:vendor\/hello-web\.tar:docker\.io\/example\/hello-web:v1/);
  const verified = await sealbuild(root, ['verify', 'example/hello:v0.1.0']);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.doesNotMatch(verified.stdout, /FAIL/);
  assert.match(verified.stdout, /images\/registry\.tar\.gz +an OCI image archive/);
  assert.deepEqual(await cached(root, 'example/hello:v0.1.0', 'linux/arm64'), ['docker.io/example/hello-web:v1 linux/arm64']);
});

test('--image-list takes oci-archive, oci and docker-archive files, paths from the current directory', async () => {
  const root = join(work, 'list-root');
  const ctx = await files(join(work, 'app'), { Kubefile: 'FROM scratch\nCOPY a.txt /\n', 'a.txt': 'a\n' });
  await writeFile(join(work, 'images.txt'), [
    'oci-archive:shipped/both.tar.gz:vendor/web:1.0      # compressed, two images: named by REF',
    'oci:shipped/web-layout',
    'docker-archive:shipped/single-docker.tar',
  ].join('\n'));
  const built = await offline(root, ['-t', 'app:1', '--image-list', 'images.txt', ctx], work);
  assert.equal(built.code, 0, built.stderr);
  assert.deepEqual(await cached(root, 'app:1', 'linux/amd64'), ['docker.io/vendor/single:2.0 linux/amd64', 'docker.io/vendor/web:1.0 linux/amd64']);
  // The cached image is the vendor's, byte for byte: the same index digest as in its own store.
  const inspected = JSON.parse((await sealbuildOk(root, ['inspect', 'vendor/web:1.0', '--json'])).stdout) as { digest: string };
  const original = JSON.parse((await sealbuildOk(seedRoot, ['inspect', 'vendor/web:1.0', '--json'])).stdout) as { digest: string };
  assert.equal(inspected.digest, original.digest);
});

test('a single-platform image file refuses a platform it does not have', async () => {
  const ctx = await files(join(work, 'two'), { Kubefile: 'FROM scratch\nCOPY a.txt /\n', 'a.txt': 'a\n' });
  await writeFile(join(work, 'single.txt'), 'docker-archive:shipped/single-docker.tar\n');
  const built = await offline(join(work, 'two-root'), ['-t', 'two:1', '--platform', 'linux/amd64,linux/arm64', '--image-list', 'single.txt', ctx], work);
  assert.equal(built.code, 1);
  assert.match(built.stderr, /^Error: image docker\.io\/vendor\/single:2\.0 is linux\/amd64 only, not linux\/arm64/m);
});

test('image files: one-line errors for a bare tag, several images, a path outside the context, a manifest', async () => {
  const root = join(work, 'bad-root');
  const cases: [Record<string, string>, RegExp][] = [
    [{ 'manifests/imageList': 'oci-archive:bare-tag.tar\n' }, /^Error: oci-archive:bare-tag\.tar: the image is named "1\.0", which is not REPOSITORY:TAG.*\(hint: write the file with the full name/m],
    [{ 'manifests/imageList': 'oci-archive:both.tar.gz\n' }, /^Error: oci-archive:both\.tar\.gz: holds 2 images \(docker\.io\/vendor\/web:1\.0, docker\.io\/vendor\/single:2\.0\) \(hint: name one after the path/m],
    [{ 'manifests/imageList': '# vendor images\noci-archive:../shipped/both.tar.gz\n' }, /^Error: manifests\/imageList:2:1: image file source "\.\.\/shipped\/both\.tar\.gz" is outside the build context/m],
    [{ 'manifests/imageList': 'oci-archive:missing.tar\n' }, /^Error: manifests\/imageList:1:1: image file source "missing\.tar" not found in the build context/m],
    [{ 'manifests/app.yaml': 'kind: Pod\nspec:\n  containers:\n    - image: oci-archive:both.tar.gz\n' }, /^Error: manifests\/app\.yaml: "oci-archive:both\.tar\.gz" is an image file, which only an imageList file or --image-list can name/m],
  ];
  for (const [i, [content, expected]] of cases.entries()) {
    const ctx = await files(join(work, `bad-${i}`), { Kubefile: 'FROM scratch\nCOPY manifests manifests\n', ...content });
    await cp(join(work, 'shipped', 'bare-tag.tar'), join(ctx, 'bare-tag.tar'));
    await cp(join(work, 'shipped', 'both.tar.gz'), join(ctx, 'both.tar.gz'));
    const built = await offline(root, ['-t', `bad:${i}`, ctx], work);
    assert.equal(built.code, 1, `case ${i}: ${built.stderr}`);
    assert.match(built.stderr, expected, `case ${i}`);
    assert.equal(built.stderr.trim().split('\n').filter((l) => l.startsWith('Error')).length, 1);
  }
});

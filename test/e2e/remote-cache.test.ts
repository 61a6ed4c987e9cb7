/*
 * A layer cache shared through a registry: two store roots stand in for two CI runners.
 * Runner A builds with --cache-to, runner B (fresh root) with --cache-from, against a real
 * registry; skopeo shows what the cache tag holds.
 */
import assert from 'node:assert/strict';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { layerSteps, progressEvents, removeDir, run, sealbuild, sealbuildOk, tempDir, tool } from '../helpers/cli.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

let work: string;
let ctx: string;
let env: NodeJS.ProcessEnv;
let registry: Registry;

before(async () => {
  tool('skopeo', 'skopeo');
  work = await tempDir('sealbuild-remote-cache-');
  env = { DOCKER_CONFIG: join(work, 'docker'), REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '' };
  ctx = join(work, 'ctx');
  await mkdir(join(ctx, 'manifests'), { recursive: true });
  await writeFile(join(ctx, 'app.txt'), 'version 1\n');
  await writeFile(join(ctx, 'manifests', 'deploy.yaml'), 'kind: Deployment\n'.repeat(200));
  await writeFile(join(ctx, 'Kubefile'), ['FROM scratch', 'LABEL stage=test', 'COPY app.txt /etc/app.txt', 'COPY manifests manifests', 'APP demo local://manifests/deploy.yaml'].join('\n'));
  registry = await startRegistry();
});
after(async () => {
  await registry?.stop();
  await removeDir(work);
});


/** The warnings of a `--progress json` run. */
function warnings(stderr: string): string[] {
  return progressEvents(stderr).flatMap((e) => (e.event === 'warning' ? [String(e.message)] : []));
}

/** The build cache a `--progress json` run imported or exported (`kind`): its name and number of entries. */
function cacheEvents(stderr: string, kind: 'cache-import' | 'cache-export'): { ref: unknown; entries: unknown }[] {
  return progressEvents(stderr).flatMap((e) => (e.event === kind ? [{ ref: e.ref, entries: e.entries }] : []));
}

/** How many blob transfers of a `--progress json` run reached `state` (start, exists, uploaded...). */
function blobs(stderr: string, state: string): number {
  return progressEvents(stderr).filter((e) => e.event === 'blob' && e.state === state).length;
}

async function layersOf(root: string, digest: string): Promise<{ digest: string }[]> {
  const manifest = JSON.parse(await readFile(join(root, 'oci', 'blobs', 'sha256', digest.replace('sha256:', '')), 'utf8'));
  return manifest.layers;
}

test('runner B reuses the layers runner A exported: CACHED steps, no compression, same digest', async () => {
  const cache = `${registry.host}/team/k3s-cache`;
  const [rootA, rootB] = [join(work, 'runner-a'), join(work, 'runner-b')];
  const flags = ['--build-mode', 'lite', '--platform', 'linux/amd64'];

  const a = await sealbuildOk(rootA, ['--progress', 'json', 'build', '-t', 'ci/app:a', ...flags, '--cache-from', `registry=${cache}`, '--cache-to', `registry=${cache}`, ctx], { env });
  assert.match(warnings(a.stderr).join('\n'), /^--cache-from .*team\/k3s-cache:buildcache: no build cache there yet; building without it$/m);
  const built = ['COPY app.txt /etc/app.txt', 'COPY manifests manifests', 'APP demo local://manifests/deploy.yaml'];
  assert.deepEqual(layerSteps(a.stderr), built.map((s) => `built ${s}`));
  assert.deepEqual(cacheEvents(a.stderr, 'cache-export'), [{ ref: `${cache}:buildcache`, entries: 3 }]);

  const tagged = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${cache}:buildcache`]));
  assert.equal(tagged.artifactType, 'application/vnd.sealbuild.buildcache.v1');
  assert.equal(tagged.config.mediaType, 'application/vnd.sealbuild.buildcache.config.v1+json');
  const layersA = await layersOf(rootA, a.stdout.trim());
  assert.deepEqual(tagged.layers.map((l: { digest: string }) => l.digest), layersA.map((l) => l.digest));

  const b = await sealbuildOk(rootB, ['--progress', 'json', 'build', '-t', 'ci/app:b', ...flags, '--cache-from', `registry=${cache}`, ctx], { env });
  assert.deepEqual(layerSteps(b.stderr), built.map((s) => `CACHED ${s}`), 'every layer step hit, none was compressed');
  assert.deepEqual(cacheEvents(b.stderr, 'cache-import'), [{ ref: `${cache}:buildcache`, entries: 3 }]);
  assert.equal(blobs(b.stderr, 'start'), 3, 'each hit layer downloaded once');
  assert.equal(b.stdout.trim(), a.stdout.trim(), 'same image digest');
  for (const layer of layersA) await access(join(rootB, 'oci', 'blobs', 'sha256', layer.digest.replace('sha256:', '')));

  // The hits were recorded locally: a third build on runner B needs no registry at all.
  const again = await sealbuildOk(rootB, ['--progress', 'json', 'build', '-t', 'ci/app:b', ...flags, ctx], { env });
  assert.deepEqual(layerSteps(again.stderr), built.map((s) => `CACHED ${s}`));
  assert.equal(blobs(again.stderr, 'start'), 0, 'nothing fetched');

  // Runner B changes the first file and exports: every key after it changes (keys chain), so
  // the cache accumulates 3 new entries next to A's 3; the layers whose bytes did not change
  // are in the repository already and are only checked with a HEAD.
  await writeFile(join(ctx, 'app.txt'), 'version 2\n');
  const c = await sealbuildOk(rootB, ['--progress', 'json', 'build', '-t', 'ci/app:c', ...flags, '--cache-from', `registry=${cache}`, '--cache-to', `registry=${cache}`, ctx], { env });
  assert.deepEqual(layerSteps(c.stderr), built.map((s) => `built ${s}`));
  assert.deepEqual(cacheEvents(c.stderr, 'cache-export'), [{ ref: `${cache}:buildcache`, entries: 6 }]);
  assert.equal(blobs(c.stderr, 'exists'), 2);
  assert.equal(blobs(c.stderr, 'uploaded'), 1);
  await writeFile(join(ctx, 'app.txt'), 'version 1\n');
});

test('--cache-from a repository without a cache is a warning and a normal build', async () => {
  const root = join(work, 'cold');
  const result = await sealbuildOk(root, ['build', '--build-mode', 'lite', '--cache-from', `registry=${registry.host}/nobody/here:v9`, ctx], { env });
  assert.match(result.stderr, /^WARNING: --cache-from .*nobody\/here:v9: no build cache there yet; building without it$/m);
  assert.match(result.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
});

test('a cache tag holding an image is neither read nor overwritten', async () => {
  const root = join(work, 'image-tag');
  const image = `${registry.host}/team/app:v1`;
  await sealbuildOk(root, ['build', '--build-mode', 'lite', '-t', image, ctx], { env });
  await sealbuildOk(root, ['push', image], { env });
  const from = await sealbuildOk(root, ['build', '--build-mode', 'lite', '--cache-from', `registry=${image}`, ctx], { env });
  assert.match(from.stderr, /^WARNING: --cache-from .*team\/app:v1: .*is not a sealbuild build cache .*; building without it$/m);
  const to = await sealbuild(root, ['--progress', 'quiet', 'build', '--build-mode', 'lite', '--cache-to', `registry=${image}`, ctx], { env });
  assert.equal(to.code, 1);
  assert.equal(to.stderr.trim().split('\n').length, 1);
  assert.match(to.stderr, /^Error: --cache-to .*team\/app:v1: .*is not a sealbuild build cache .*\(hint: the image was built and tagged; /);
});

test('a malformed --cache-to or --cache-from is a one-line usage error', async () => {
  const root = join(work, 'usage');
  for (const args of [['--cache-to', `${registry.host}/team/cache`], ['--cache-from', 'type=local,dest=/tmp/x'], ['--cache-to', 'registry=Bad/Repo'], ['--cache-to', `registry=${registry.host}/c@sha256:${'0'.repeat(64)}`]]) {
    const result = await sealbuild(root, ['build', ...args, ctx], { env });
    assert.equal(result.code, 2, args.join(' '));
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^Error: /);
  }
});

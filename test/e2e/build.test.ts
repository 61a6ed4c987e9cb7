import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, readlink, stat, utimes, writeFile, symlink, link } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildSteps, exampleContext, removeDir, run, sealbuildOk, tempDir, tool } from '../helpers/cli.js';

let EXAMPLE: string;
let work: string;
let root: string;

/** A context exercising COPY of files, dirs, globs, symlinks, hardlinks, --chmod, --chown. */
async function makeContext(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'etc', 'conf.d'), { recursive: true });
  await writeFile(join(dir, 'bin', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  await symlink('tool', join(dir, 'bin', 'tool-alias'));
  await writeFile(join(dir, 'etc', 'a.conf'), 'a=1\n', { mode: 0o640 });
  await writeFile(join(dir, 'etc', 'conf.d', 'b.conf'), 'b=2\n');
  await link(join(dir, 'etc', 'a.conf'), join(dir, 'etc', 'a-hardlink.conf'));
  await writeFile(join(dir, 'one.yaml'), 'kind: ConfigMap\n');
  await writeFile(join(dir, 'two.yaml'), 'kind: Secret\n');
  await writeFile(join(dir, 'notes.bak'), 'ignored\n');
  await writeFile(join(dir, '.dockerignore'), '*.bak\n');
  await writeFile(join(dir, 'Kubefile'), [
    'FROM scratch',
    'ARG TAG=v1',
    'LABEL com.example.tag=$TAG com.example.arch=${ARCH}',
    'ENV PATH=/bin',
    'COPY bin bin/',
    'COPY etc /etc',
    'COPY *.yaml manifests/',
    'COPY --chmod=600 --chown=1000:1001 one.yaml secret/one.yaml',
    'CMD echo installed',
    '',
  ].join('\n'));
}

before(async () => {
  tool('skopeo', 'skopeo');
  tool('umoci', 'umoci');
  tool('oci-image-tool', 'oci-image-tool');
  work = await tempDir();
  EXAMPLE = await exampleContext(work);
  root = join(work, 'root');
  await makeContext(join(work, 'ctx'));
});
after(() => removeDir(work));

async function inspectJson(ref: string): Promise<{ digest: string; manifest: { layers: { digest: string }[]; annotations: Record<string, string> }; config: { config: { Env: string[] }; history: { empty_layer?: boolean; created_by: string }[]; rootfs: { diff_ids: string[] } }; labels: Record<string, string> }> {
  return JSON.parse((await sealbuildOk(root, ['inspect', '--json', ref])).stdout);
}

test('build, then oci-image-tool, umoci and skopeo agree with what was built', async () => {
  const built = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/ctx:v1', '--platform', 'linux/amd64', join(work, 'ctx')]);
  const digest = built.stdout.trim();
  assert.match(digest, /^sha256:[a-f0-9]{64}$/);
  assert.equal(buildSteps(built.stderr)[4], 'STEP 5/9 [linux/amd64]: COPY bin bin/');

  const info = await inspectJson('test/ctx:v1');
  assert.equal(info.digest, digest);
  assert.equal(info.labels['com.example.tag'], 'v1');
  assert.equal(info.labels['com.example.arch'], 'amd64');
  assert.deepEqual(info.config.config.Env, ['PATH=/bin']);
  assert.equal(info.manifest.layers.length, 4);
  assert.equal(info.config.rootfs.diff_ids.length, 4);
  assert.deepEqual(info.config.history.map((h) => Boolean(h.empty_layer)), [true, true, true, false, false, false, false, true]);
  const extension = JSON.parse(info.manifest.annotations['sealer.image.extension']!);
  assert.equal(extension.schemaVersion, 'v1alpha1');
  assert.deepEqual(extension.launch.cmds, ['echo installed']);

  const out = join(work, 'layout');
  await sealbuildOk(root, ['save', '--format', 'oci-dir', '-o', out, 'test/ctx:v1']);
  assert.match(run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=docker.io/test/ctx:v1', out]), /Validation succeeded|OK/);

  const bundle = join(work, 'bundle');
  run('umoci', ['unpack', '--rootless', '--image', `${out}:docker.io/test/ctx:v1`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  const tree: string[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const s = await stat(join(dir, name)).catch(() => undefined);
      const l = await readlink(join(dir, name)).catch(() => undefined);
      const path = rel ? `${rel}/${name}` : name;
      tree.push(l !== undefined ? `${path} -> ${l}` : `${path} ${(s!.mode & 0o7777).toString(8)}`);
      if (l === undefined && s!.isDirectory()) await walk(join(dir, name), path);
    }
  }
  await walk(rootfs, '');
  assert.deepEqual(tree, [
    'bin 755', 'bin/tool 755', 'bin/tool-alias -> tool',
    'etc 755', 'etc/a-hardlink.conf 640', 'etc/a.conf 640', 'etc/conf.d 755', 'etc/conf.d/b.conf 644',
    'manifests 755', 'manifests/one.yaml 644', 'manifests/two.yaml 644',
    'secret 755', 'secret/one.yaml 600',
  ]);
  assert.equal((await stat(join(rootfs, 'etc/a.conf'))).ino, (await stat(join(rootfs, 'etc/a-hardlink.conf'))).ino, 'hardlink kept');
  assert.equal(await readFile(join(rootfs, 'bin/tool'), 'utf8'), '#!/bin/sh\necho tool\n');

  const archive = join(work, 'ctx.tar');
  await sealbuildOk(root, ['save', '-o', archive, 'test/ctx:v1']);
  const skopeo = JSON.parse(run('skopeo', ['inspect', `oci-archive:${archive}`]));
  assert.equal(skopeo.Digest, digest);
  assert.equal(skopeo.Labels['com.example.tag'], 'v1');
  assert.equal(skopeo.Architecture, 'amd64');
});

test('--chown sets numeric ownership in the layer', async () => {
  const out = join(work, 'chown-layout');
  await sealbuildOk(root, ['save', '--format', 'oci-dir', '-o', out, 'test/ctx:v1']);
  const info = await inspectJson('test/ctx:v1');
  const last = info.manifest.layers.at(-1)!.digest.slice('sha256:'.length);
  const listing = run('tar', ['-tvzf', join(out, 'blobs', 'sha256', last), '--numeric-owner']);
  assert.match(listing, /-rw------- 1000\/1001 .* secret\/one\.yaml/);
  assert.match(listing, /drwxr-xr-x 0\/0 .* secret\//);
});

test('same context gives the same digest from a copy with other mtimes', async () => {
  const first = (await sealbuildOk(root, ['-t', 'test/repro:a', '--platform', 'linux/amd64', join(work, 'ctx')])).stdout.trim();
  const copy = join(work, 'ctx-copy');
  run('cp', ['-a', join(work, 'ctx'), copy]); // -a keeps the hardlink, which is part of the input
  const later = new Date('2031-05-06T07:08:09Z');
  for (const f of ['bin/tool', 'etc/a.conf', 'one.yaml', 'etc']) await utimes(join(copy, f), later, later);
  const otherRoot = join(work, 'root-b');
  const second = (await sealbuildOk(otherRoot, ['-t', 'test/repro:b', '--platform', 'linux/amd64', copy])).stdout.trim();
  assert.equal(second, first);
  const stamped = (await sealbuildOk(otherRoot, ['-t', 'test/repro:c', '--platform', 'linux/amd64', copy], { env: { SOURCE_DATE_EPOCH: '1700000000' } })).stdout.trim();
  assert.notEqual(stamped, first, 'SOURCE_DATE_EPOCH changes created and mtimes');
  const created = JSON.parse((await sealbuildOk(otherRoot, ['inspect', '--json', 'test/repro:c'])).stdout).config.created;
  assert.equal(created, '2023-11-14T22:13:20Z');
});

test('the example builds for amd64 and arm64 into one index; export gives each arch its own bin/', async () => {
  const digest = (await sealbuildOk(root, ['-t', 'example/hello:v0.1.0', '--build-mode', 'lite', '--platform', 'linux/amd64,linux/arm64', EXAMPLE])).stdout.trim();
  const raw = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${join(root, 'oci')}:docker.io/example/hello:v0.1.0`]));
  assert.equal(raw.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.deepEqual(raw.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture), ['amd64', 'arm64']);
  const images = JSON.parse((await sealbuildOk(root, ['images', '--json'])).stdout) as { name: string; digest: string; platforms: string[] }[];
  const hello = images.find((i) => i.name === 'docker.io/example/hello:v0.1.0')!;
  assert.equal(hello.digest, digest);
  assert.deepEqual(hello.platforms, ['linux/amd64', 'linux/arm64']);
  for (const arch of ['amd64', 'arm64']) {
    const dir = join(work, `export-${arch}`);
    await sealbuildOk(root, ['export', 'example/hello:v0.1.0', '--platform', `linux/${arch}`, '-o', dir]);
    assert.match(await readFile(join(dir, 'bin', 'hello'), 'utf8'), new RegExp(`hello from ${arch}`));
    assert.equal((await stat(join(dir, 'scripts', 'init.sh'))).mode & 0o777, 0o755);
    assert.ok((await readFile(join(dir, 'application', 'apps', 'hello-web', 'web.yaml'), 'utf8')).includes('kind: Deployment'));
  }
  // Layers that do not depend on the architecture are stored once.
  const info = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'example/hello:v0.1.0'])).stdout);
  const [amd, arm] = info.images.map((i: { manifest: { layers: { digest: string }[] } }) => i.manifest.layers.map((l) => l.digest));
  assert.notEqual(amd[0], arm[0], 'bin/ differs per arch');
  assert.deepEqual(amd.slice(1, -1), arm.slice(1, -1), 'scripts, etc, manifests, app layers are shared');
  assert.notEqual(amd.at(-1), arm.at(-1), 'Metadata (the last layer) names each arch');
  const ext = JSON.parse(info.images[0].annotations['sealer.image.extension']);
  assert.deepEqual(ext.launch.app_names, ['hello-web']);
  assert.deepEqual(ext.applications, [{ name: 'hello-web', version: 'v1', files: ['web.yaml'], type: 'kube' }]);
  assert.equal(info.images[0].labels['app.alpha.sealer.io/supported-kube-version'], 'v1.25.3');
});

test('tag and rmi move names, not images', async () => {
  await sealbuildOk(root, ['tag', 'test/ctx:v1', 'localhost:5000/team/ctx:latest']);
  const names = () => sealbuildOk(root, ['images', '--json']).then((r) => (JSON.parse(r.stdout) as { name: string; digest: string }[]));
  const tagged = (await names()).filter((i) => i.name.includes('ctx'));
  assert.equal(new Set(tagged.map((i) => i.digest)).size, 1);
  assert.ok(tagged.some((i) => i.name === 'localhost:5000/team/ctx:latest'));
  const removed = await sealbuildOk(root, ['rmi', 'localhost:5000/team/ctx']);
  assert.equal(removed.stdout.trim(), 'Untagged: localhost:5000/team/ctx:latest');
  assert.ok(!(await names()).some((i) => i.name === 'localhost:5000/team/ctx:latest'));
  assert.ok((await names()).some((i) => i.name === 'docker.io/test/ctx:v1'));
});

test('a symlink named as a COPY source, or matched by a pattern, is copied under its own name with its target\'s bytes, as docker does', async () => {
  const ctx = join(work, 'links');
  await mkdir(join(ctx, 'bin'), { recursive: true });
  await writeFile(join(ctx, 'bin', 'kubectl-1.30'), 'kubectl 1.30\n');
  await symlink('kubectl-1.30', join(ctx, 'bin', 'kubectl'));
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY bin/kubectl /usr/bin/\nCOPY bin/* /opt/\n');
  await sealbuildOk(root, ['-t', 'test/links:v1', ctx]);
  const out = join(work, 'links-rootfs');
  await sealbuildOk(root, ['export', 'test/links:v1', '-o', out]);
  assert.deepEqual(await readdir(join(out, 'usr', 'bin')), ['kubectl']);
  assert.deepEqual((await readdir(join(out, 'opt'))).sort(), ['kubectl', 'kubectl-1.30']);
  for (const file of ['usr/bin/kubectl', 'opt/kubectl']) assert.equal(await readFile(join(out, file), 'utf8'), 'kubectl 1.30\n', file);
});

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, sealbuild, sealbuildOk, snapshot, tempDir } from '../helpers/cli.js';
import { elfStub } from '../helpers/releases.js';

/*
 * The ClusterImage contract through the CLI: what a build refuses (a binary of the wrong
 * architecture, a Metadata or a label that contradicts the declared runtime), what it
 * writes (Metadata, mirrored labels), and what `verify` catches in a broken image.
 */

let work: string;
let root: string;
const K3S = 'LABEL cluster.alpha.sealer.io/cluster-runtime-type=k3s cluster.alpha.sealer.io/cluster-runtime-version=v1.34.2+k3s1';

/** A context: path -> content (Buffer or text); modes 0755 for scripts and bin/. */
async function context(name: string, files: Record<string, string | Buffer>): Promise<string> {
  const dir = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content, { mode: /^(bin|scripts)\//.test(path) || path.includes('/bin/') ? 0o755 : 0o644 });
  }
  return dir;
}

/** A k3s rootfs that meets the contract; `overrides` break parts of it. */
function k3sFiles(kubefile: string[], overrides: Record<string, string | Buffer> = {}): Record<string, string | Buffer> {
  const oci = '{"imageLayoutVersion":"1.0.0"}';
  return {
    'bin/amd64/k3s': elfStub('amd64', 'k3s'),
    'bin/arm64/k3s': elfStub('arm64', 'k3s'),
    'scripts/init.sh': '#!/bin/sh\n',
    'scripts/upgrade.sh': '#!/bin/sh\n',
    'scripts/delete.sh': '#!/bin/sh\n',
    'scripts/clean.sh': '#!/bin/sh\n',
    'scripts/init-registry.sh': '#!/bin/sh\n',
    // An uncompressed tar with oci-layout and index.json is a loadable image archive.
    'images/registry.tar.gz': tarOf({ 'oci-layout': oci, 'index.json': '{"schemaVersion":2,"manifests":[]}' }),
    Kubefile: ['FROM scratch', K3S, 'COPY bin/${ARCH}/ bin/', 'COPY scripts scripts', 'COPY images images', ...kubefile, ''].join('\n'),
    ...overrides,
  };
}

/** A minimal ustar archive (headers and data blocks), enough for a tar reader. */
function tarOf(files: Record<string, string>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const header = Buffer.alloc(512);
    header.write(name, 0);
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

async function expectBuildFailure(dir: string, platform: string, pattern: RegExp, extra: string[] = []): Promise<void> {
  const before = await snapshot(root);
  const result = await sealbuild(root, ['-t', 'test/broken:1', '--platform', platform, ...extra, dir]);
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.match(lines.at(-1)!, pattern);
  assert.match(lines.at(-1)!, /^Error: .*\(hint: .+\)$/);
  assert.deepEqual(await snapshot(root), before, 'the store is as it was');
}

async function inspect(ref: string, platform: string): Promise<{ labels: Record<string, string>; manifest: { layers: unknown[] }; config: { history: { created_by: string }[] } }> {
  return JSON.parse((await sealbuildOk(root, ['inspect', '--json', '--platform', platform, ref])).stdout);
}

before(async () => {
  work = await tempDir();
  root = join(work, 'root');
  await sealbuildOk(root, ['prune']); // creates the empty store (read-only commands create none)
});
after(() => removeDir(work));

test('a binary of another architecture fails the build, naming the file, both arches and the line that added it', async () => {
  const dir = await context('wrong-arch', k3sFiles([], { Kubefile: ['FROM scratch', K3S, 'COPY bin/amd64/ bin/', ''].join('\n') }));
  await expectBuildFailure(dir, 'linux/amd64,linux/arm64', /^Error: bin\/k3s is an ELF binary for amd64 \(x86-64\), but the image being built is linux\/arm64; added by "COPY bin\/amd64\/ bin\/"/);
  // In a directory the check does not cover, a foreign binary is not the node's business.
  const other = await context('other-dir', { 'tools/arm64-helper': elfStub('arm64', 'helper'), Kubefile: 'FROM scratch\nCOPY tools /tools\n' });
  await sealbuildOk(root, ['-t', 'test/other:1', '--platform', 'linux/amd64', other]);
});

test('a base image with a wrong-arch binary fails the child build, pointing at the base', async () => {
  const base = await context('plain-base', { 'opt/amd64/tool': elfStub('amd64', 'tool'), Kubefile: 'FROM scratch\nCOPY opt/amd64/tool opt/tool\n' });
  await sealbuildOk(root, ['-t', 'test/plain-base:1', '--platform', 'linux/amd64', base]);
  await sealbuildOk(root, ['tag', 'test/plain-base:1', 'test/mislabelled:1']);
  // A base claiming arm64 with an amd64 binary inside (as in sealer #2042).
  const ctx = join(work, 'mislabelled');
  await mkdir(ctx);
  await writeFile(join(ctx, 'Kubefile'), 'FROM --platform=linux/amd64 test/mislabelled:1\nCOPY Kubefile /Kubefile\n');
  await expectBuildFailure(ctx, 'linux/arm64', /opt\/tool is an ELF binary for amd64 \(x86-64\), but the image being built is linux\/arm64; from the base image/);
});

test('Metadata: written by sealbuild from the labels; a context\'s own must agree; labels are mirrored; contradictions fail', async () => {
  const ok = await context('k3s-ok', k3sFiles(['KUBEVERSION v1.34.2', 'ENV REGISTRY_DOMAIN=hub.example REGISTRY_PORT=5443']));
  await sealbuildOk(root, ['-t', 'test/k3s:1', '--platform', 'linux/amd64,linux/arm64', ok]);
  const arm = await inspect('test/k3s:1', 'linux/arm64');
  assert.equal(arm.labels['sealos.io.distribution'], 'k3s');
  assert.equal(arm.labels['cluster.alpha.sealer.io/container-runtime-type'], 'containerd');
  assert.equal(arm.labels.version, 'v1.34.2+k3s1');
  // sealos refuses a rootfs image without its image format version (#14 point 7).
  assert.equal(arm.labels['sealos.io.type'], 'rootfs');
  assert.equal(arm.labels['sealos.io.version'], 'v1beta1');
  assert.equal(arm.config.history.at(-1)!.created_by, 'sealbuild: Metadata for linux/arm64');
  const dir = join(work, 'k3s-ok-export');
  await sealbuildOk(root, ['export', 'test/k3s:1', '--platform', 'linux/arm64', '-o', dir]);
  const written = await readFile(join(dir, 'Metadata'), 'utf8');
  assert.deepEqual(JSON.parse(written), { version: 'v1.34.2+k3s1', arch: 'arm64', variant: '', kubeVersion: 'v1.34.2', clusterRuntime: 'k3s', containerRuntime: 'containerd', registry: { domain: 'hub.example', port: 5443 } });
  assert.ok((await readdir(join(root, 'cache', 'layer-facts'))).length > 0, 'layer facts are kept for rebuilds');

  // The context brings the same Metadata: accepted, and no second Metadata layer.
  const own = await context('k3s-own', k3sFiles(['KUBEVERSION v1.34.2', 'ENV REGISTRY_DOMAIN=hub.example REGISTRY_PORT=5443', 'COPY Metadata /'], { Metadata: written }));
  await sealbuildOk(root, ['-t', 'test/k3s-own:1', '--platform', 'linux/arm64', own]);
  assert.equal((await inspect('test/k3s-own:1', 'linux/arm64')).config.history.at(-1)!.created_by, 'COPY Metadata /');
  // ... built for amd64 it says arm64: refused.
  await expectBuildFailure(own, 'linux/amd64', /^Error: Metadata \(added by "COPY Metadata \/"\) has arch "arm64", but the image's labels and ENV make it "amd64" for linux\/amd64/);
  const invalid = await context('k3s-invalid', k3sFiles(['COPY Metadata /'], { Metadata: '{"version": "v1.34.2+k3s1", "arch": "amd64"}' }));
  await expectBuildFailure(invalid, 'linux/amd64', /^Error: Metadata \(added by "COPY Metadata \/"\): invalid document at "variant"/);
  const undeclared = await context('no-runtime', { Metadata: written, Kubefile: 'FROM scratch\nCOPY Metadata /\n' });
  await expectBuildFailure(undeclared, 'linux/arm64', /^Error: Metadata is added by "COPY Metadata \/", but the image declares no cluster runtime \(hint: add LABEL cluster\.alpha\.sealer\.io\/cluster-runtime-type=/);

  const conflict = await context('k3s-conflict', k3sFiles(['LABEL sealos.io.distribution=k0s']));
  await expectBuildFailure(conflict, 'linux/amd64', /^Error: label sealos\.io\.distribution=k0s contradicts the image's runtime facts, which make it k3s/);
  await expectBuildFailure(ok, 'linux/amd64', /^Error: label version=v3 contradicts the image's runtime facts, which make it v2 \(hint: declare each fact once/, ['--label', 'cluster.alpha.sealer.io/cluster-runtime-version=v2', '--label', 'version=v3']);
  // sealos' newer label names: the distribution must agree; the format version must be one sealos knows.
  const newer = await context('k3s-newer', k3sFiles(['LABEL apps.sealos.io/distribution=k3s apps.sealos.io/version=v1beta2 apps.sealos.io/type=rootfs']));
  await sealbuildOk(root, ['-t', 'test/k3s-newer:1', '--platform', 'linux/amd64', newer]);
  const newerLabels = (await inspect('test/k3s-newer:1', 'linux/amd64')).labels;
  assert.equal(newerLabels['sealos.io.version'], undefined, 'apps.sealos.io/version already says it');
  assert.equal(newerLabels['sealos.io.type'], undefined, 'apps.sealos.io/type already says it');
  const newerConflict = await context('k3s-newer-conflict', k3sFiles(['LABEL apps.sealos.io/distribution=kubernetes']));
  await expectBuildFailure(newerConflict, 'linux/amd64', /^Error: label apps\.sealos\.io\/distribution=kubernetes contradicts the image's runtime facts, which make it k3s/);
  await expectBuildFailure(ok, 'linux/amd64', /^Error: label sealos\.io\.version=v1\.34\.2 is not an image format version sealos accepts/, ['--label', 'sealos.io.version=v1.34.2']);
  const unversioned = await context('k3s-unversioned', { 'bin/k3s': elfStub('amd64', 'k3s'), Kubefile: 'FROM scratch\nLABEL cluster.alpha.sealer.io/cluster-runtime-type=k3s\nCOPY bin bin\n' });
  await expectBuildFailure(unversioned, 'linux/amd64', /^Error: the k3s image for linux\/amd64 declares no version \(hint: add LABEL cluster\.alpha\.sealer\.io\/cluster-runtime-version=<version> or KUBEVERSION v1\.x\.y/);
});

test('a child that changes a runtime fact gets the base\'s Metadata replaced; labels follow', async () => {
  const ctx = join(work, 'child');
  await mkdir(ctx);
  await writeFile(join(ctx, 'Kubefile'), 'FROM test/k3s:1\nLABEL cluster.alpha.sealer.io/cluster-runtime-version=v1.34.3+k3s1\nKUBEVERSION v1.34.3\n');
  await sealbuildOk(root, ['-t', 'test/k3s-child:1', '--platform', 'linux/amd64', ctx]);
  const [child, base] = await Promise.all([inspect('test/k3s-child:1', 'linux/amd64'), inspect('test/k3s:1', 'linux/amd64')]);
  assert.equal(child.manifest.layers.length, base.manifest.layers.length + 1);
  assert.equal(child.labels.version, 'v1.34.3+k3s1');
  assert.equal(child.labels['sealos.io.distribution'], 'k3s');
  const dir = join(work, 'child-export');
  await sealbuildOk(root, ['export', 'test/k3s-child:1', '-o', dir]);
  const metadata = JSON.parse(await readFile(join(dir, 'Metadata'), 'utf8'));
  assert.equal(metadata.version, 'v1.34.3+k3s1');
  assert.equal(metadata.kubeVersion, 'v1.34.3');
  assert.deepEqual(metadata.registry, { domain: 'hub.example', port: 5443 }, 'ENV is inherited');
});

test('verify catches a broken image: missing and non-executable scripts, a dangling binary, a placeholder registry image, a registry link to nothing', async () => {
  const hex = 'c'.repeat(64);
  const broken = await context('k3s-broken', k3sFiles(['COPY registry registry'], {
    'scripts/clean.sh': '',
    'images/registry.tar.gz': 'SEALBUILD-PLACEHOLDER: not the registry image\n',
    [`registry/docker/registry/v2/repositories/library/nginx/_manifests/tags/1.27/current/link`]: `sha256:${hex}`,
  }));
  await rm(join(broken, 'scripts', 'clean.sh'));
  await chmod(join(broken, 'scripts', 'init.sh'), 0o644);
  await rm(join(broken, 'bin', 'amd64', 'k3s'));
  await symlink('k3s-real', join(broken, 'bin', 'amd64', 'k3s'));
  await sealbuildOk(root, ['-t', 'test/k3s-broken:1', '--platform', 'linux/amd64', broken]);
  const result = await sealbuild(root, ['verify', 'test/k3s-broken:1']);
  assert.equal(result.code, 1);
  const fails = result.stdout.split('\n').filter((l) => l.includes('FAIL')).map((l) => l.replace(/\s+/g, ' ').trim());
  assert.deepEqual(fails, [
    'FAIL scripts/init.sh not executable (mode 0644)',
    'FAIL scripts/clean.sh missing',
    'FAIL bin/k3s a link that points to nothing in the image',
    'FAIL images/registry.tar.gz a placeholder, not the registry image: the install cannot start the registry (run basefs/registry-image.sh with network access, then build again)',
    `FAIL registry/docker/registry/v2/repositories/library/nginx/_manifests/tags/1.27/current/link points to sha256:${hex}, which registry/ does not hold`,
  ]);
  assert.match(result.stderr, /^Error: test\/k3s-broken:1 does not meet its cluster runtime's contract: 5 problems \(linux\/amd64\)/m);
  const json = JSON.parse((await sealbuild(root, ['verify', '--json', 'test/k3s-broken:1'])).stdout);
  assert.equal(json.ok, false);
  assert.equal(json.platforms[0].findings.filter((f: { ok: boolean }) => !f.ok).length, 5);

  // The good image passes; its export, with an arm64 binary swapped in, does not.
  assert.match((await sealbuildOk(root, ['verify', '--platform', 'linux/arm64', 'test/k3s:1'])).stdout, /verified: linux\/arm64/);
  const dir = join(work, 'k3s-ok-export');
  assert.match((await sealbuildOk(root, ['verify', dir])).stdout, /verified: linux\/arm64/);
  await writeFile(join(dir, 'bin', 'k3s'), elfStub('amd64', 'k3s'));
  const swapped = await sealbuild(root, ['verify', dir]);
  assert.equal(swapped.code, 1);
  assert.match(swapped.stdout, /FAIL {2}bin\/k3s +ELF binary for amd64 \(x86-64\), but the platform is linux\/arm64/);

  const plain = await sealbuild(root, ['verify', 'test/other:1']);
  assert.equal(plain.code, 1);
  assert.match(plain.stdout, /FAIL {2}Metadata +missing/);
  assert.match(plain.stdout, /no cluster runtime is declared .*this is not a ClusterImage/);
  // A registry image archive that is corrupt does not break the build; verify says what it is.
  const corrupt = await context('k3s-corrupt', k3sFiles(['ENV REGISTRY_PORT=5998'], { 'images/registry.tar.gz': Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(4096, 7)]) }));
  await sealbuildOk(root, ['-t', 'test/k3s-corrupt:1', '--platform', 'linux/amd64', corrupt]);
  const corrupted = await sealbuild(root, ['verify', 'test/k3s-corrupt:1']);
  assert.equal(corrupted.code, 1);
  assert.match(corrupted.stdout, /FAIL {2}images\/registry\.tar\.gz +not an OCI or docker image archive/);

  // A layer gone from the store is reported, not a crash (its own port: a Metadata layer no other image shares).
  const lost = await context('k3s-lost', k3sFiles(['ENV REGISTRY_PORT=5999']));
  await sealbuildOk(root, ['-t', 'test/k3s-lost:1', '--platform', 'linux/amd64', lost]);
  const metadataLayer = (await inspect('test/k3s-lost:1', 'linux/amd64')).manifest.layers.at(-1) as { digest: string };
  await rm(join(root, 'oci', 'blobs', 'sha256', metadataLayer.digest.slice('sha256:'.length)));
  const gone = await sealbuild(root, ['verify', 'test/k3s-lost:1']);
  assert.equal(gone.code, 1);
  assert.match(gone.stdout, new RegExp(`FAIL {2}image {2}layer ${metadataLayer.digest} is missing from the store`));
  const absent = await sealbuild(root, ['verify', 'test/nothing:1']);
  assert.equal(absent.code, 1);
  assert.match(absent.stderr, /^Error: image "test\/nothing:1" is not in the store/);
});

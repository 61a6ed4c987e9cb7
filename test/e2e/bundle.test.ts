import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exampleContext, removeDir, run, sealbuild, sealbuildOk, snapshot, tempDir, tool } from '../helpers/cli.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

let EXAMPLE: string;
let work: string;
let root: string;
let env: NodeJS.ProcessEnv;
let registry: Registry;
const digests: Record<string, string> = {};

const cliOk = (args: string[], r = root) => sealbuildOk(r, args, { env });

function rawDigest(raw: string): string {
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

/** Member names of a tar, compressed or not (GNU tar picks the decompressor). */
function members(file: string): string[] {
  return run('tar', ['-taf', file]).trim().split('\n');
}

/** One error line, exit 1, and the store exactly as before. */
async function expectRefused(r: string, args: string[], pattern: RegExp): Promise<void> {
  const before = await snapshot(r);
  const result = await sealbuild(r, ['--progress', 'quiet', ...args], { env });
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /^Error: cannot load /);
  assert.match(lines[0]!, pattern);
  assert.deepEqual(await snapshot(r), before, 'store unchanged');
}

before(async () => {
  tool('skopeo', 'skopeo');
  tool('zstd', 'zstd');
  work = await tempDir();
  EXAMPLE = await exampleContext(work);
  root = join(work, 'root');
  env = { DOCKER_CONFIG: join(work, 'docker'), REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '' };
  registry = await startRegistry();
  // Two multi-arch images whose layers are the same bytes: only their configs differ.
  for (const [name, label] of [['site/k3s:v1', 'role=cluster'], ['site/app:v2', 'role=app']] as const) {
    digests[name] = (await cliOk(['-t', name, '--label', label, '--build-mode', 'lite', '--platform', 'linux/amd64,linux/arm64', EXAMPLE])).stdout.trim();
  }
});
after(async () => {
  await registry?.stop();
  await removeDir(work);
});

test('bundle: two multi-arch images in one .tar.zst, shared blobs once, loaded elsewhere and pushed with the same digests', async () => {
  const bundle = join(work, 'site-bundle.tar.zst');
  await cliOk(['save', 'site/k3s:v1', 'site/app:v2', '-o', bundle]);
  assert.deepEqual([...(await readFile(bundle)).subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], 'zstd by the file name');

  const names = members(bundle);
  assert.equal(names[0], 'SHA256SUMS');
  const blobs = names.filter((n) => n.startsWith('blobs/sha256/') && n.length > 'blobs/sha256/'.length);
  assert.equal(new Set(blobs).size, blobs.length, 'each blob once');
  const expected = new Set<string>();
  for (const name of Object.keys(digests)) {
    const info = JSON.parse((await cliOk(['inspect', '--json', name])).stdout);
    expected.add(info.digest);
    for (const image of info.images) {
      expected.add(image.digest);
      expected.add(image.manifest.config.digest);
      for (const layer of image.manifest.layers) expected.add(layer.digest);
    }
  }
  // Beside the images, each platform's SBOM: a referrers index named in index.json's annotation, the artifact manifest, its empty config and document.
  const member = (path: string) => JSON.parse(run('sh', ['-c', `tar -xaOf '${bundle}' ${path}`]));
  const index = member('index.json') as { manifests: unknown[]; annotations: Record<string, string> };
  assert.equal(index.manifests.length, 2, 'index.json lists the images alone');
  const attachments = JSON.parse(index.annotations['io.sealbuild.bundle.attachments']!) as { digest: string }[];
  assert.equal(attachments.length, 4, 'one SBOM referrers index per platform image');
  for (const attachment of attachments) {
    expected.add(attachment.digest);
    for (const referrer of (member(`blobs/sha256/${attachment.digest.slice(7)}`) as { manifests: { digest: string }[] }).manifests) {
      expected.add(referrer.digest);
      const manifest = member(`blobs/sha256/${referrer.digest.slice(7)}`) as { config: { digest: string }; layers: { digest: string }[] };
      for (const blob of [manifest.config, ...manifest.layers]) expected.add(blob.digest);
    }
  }
  assert.deepEqual(new Set(blobs.map((n) => `sha256:${n.slice('blobs/sha256/'.length)}`)), expected);
  // Shared layers: 2 indexes, 4 manifests, 4 configs, and one set of layers per platform.
  const sums = run('sh', ['-c', `tar -xaOf '${bundle}' SHA256SUMS`]).trim().split('\n');
  assert.equal(sums.length, names.filter((n) => !n.endsWith('/')).length - 1, 'every other member has a checksum');

  const far = join(work, 'far-root');
  const loaded = await cliOk(['load', '-i', bundle], far);
  assert.deepEqual(loaded.stdout.trim().split('\n').sort(), [`docker.io/site/app:v2 ${digests['site/app:v2']}`, `docker.io/site/k3s:v1 ${digests['site/k3s:v1']}`]);
  for (const [name, digest] of Object.entries(digests)) {
    const dest = `${registry.host}/${name}`;
    await cliOk(['push', name, dest], far);
    const raw = run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${dest}`]);
    assert.equal(rawDigest(raw), digest);
    const local = JSON.parse((await cliOk(['inspect', '--json', name])).stdout);
    assert.deepEqual(JSON.parse(raw).manifests.map((m: { digest: string }) => m.digest), local.images.map((i: { digest: string }) => i.digest));
  }
  // Loading again adds nothing and moves no tag.
  const before = await snapshot(far);
  await cliOk(['load', '-i', bundle], far);
  assert.deepEqual(await snapshot(far), before);
});

test('bundle: gzip by name or --compress; an uncompressed bundle is a plain oci-archive skopeo reads', async () => {
  const gz = join(work, 'b.tgz');
  await cliOk(['save', 'site/app:v2', '-o', gz]);
  assert.deepEqual([...(await readFile(gz)).subarray(0, 2)], [0x1f, 0x8b]);
  const forced = join(work, 'forced.bundle');
  await cliOk(['save', 'site/app:v2', '--compress', 'zstd', '-o', forced]);
  assert.deepEqual([...(await readFile(forced)).subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
  const plain = join(work, 'b.tar');
  await cliOk(['save', 'site/app:v2', '-o', plain]);
  assert.equal(rawDigest(run('skopeo', ['inspect', '--raw', `oci-archive:${plain}:docker.io/site/app:v2`])), digests['site/app:v2']);
  for (const file of [gz, forced]) {
    const r = join(work, `root-${file.length}-${Math.random()}`);
    assert.match((await cliOk(['load', '-i', file], r)).stdout, /docker\.io\/site\/app:v2 sha256:/);
  }
  const bad = await sealbuild(root, ['save', 'site/app:v2', '--compress', 'lz4', '-o', plain], { env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^Error: --compress: unknown value "lz4"/);
});

test('bundle: a flipped byte or a truncated file is refused with one line and the store unchanged', async () => {
  const plain = join(work, 'tamper.tar');
  await cliOk(['save', 'site/k3s:v1', 'site/app:v2', '-o', plain]);
  const bytes = await readFile(plain);
  // Flip a byte inside a layer's content (not a tar header): only the checksum can tell.
  const info = JSON.parse((await cliOk(['inspect', '--json', 'site/k3s:v1'])).stdout);
  const layer = info.images[0].manifest.layers.at(-1).digest as string;
  const layerBytes = await readFile(join(root, 'oci', 'blobs', 'sha256', layer.slice(7)));
  const at = bytes.indexOf(layerBytes);
  assert.ok(at > 0);
  const flipped = Buffer.from(bytes);
  flipped[at + Math.floor(layerBytes.length / 2)]! ^= 0x01;
  await writeFile(join(work, 'flipped.tar'), flipped);

  const target = join(work, 'target-root');
  await cliOk(['prune'], target); // an existing, empty store (read-only commands such as images create none)
  await expectRefused(target, ['load', '-i', join(work, 'flipped.tar')], new RegExp(`member blobs/sha256/${layer.slice(7)} does not match its checksum`));

  await writeFile(join(work, 'short.tar'), bytes.subarray(0, at + 100));
  await expectRefused(target, ['load', '-i', join(work, 'short.tar')], /Unexpected end of data|truncated/);

  const zst = join(work, 'tamper.tar.zst');
  await cliOk(['save', 'site/k3s:v1', '-o', zst]);
  const z = await readFile(zst);
  const zFlipped = Buffer.from(z);
  zFlipped[Math.floor(z.length / 2)]! ^= 0x01;
  await writeFile(join(work, 'flipped.tar.zst'), zFlipped);
  await expectRefused(target, ['load', '-i', join(work, 'flipped.tar.zst')], /zstd/);
  await writeFile(join(work, 'short.tar.zst'), z.subarray(0, Math.floor(z.length / 2)));
  await expectRefused(target, ['load', '-i', join(work, 'short.tar.zst')], /zstd .*(premature end|truncated)/);

  // An archive with no checksums (a foreign tar) is refused too.
  run('tar', ['-cf', join(work, 'foreign.tar'), '-C', root, 'oci']);
  await expectRefused(target, ['load', '-i', join(work, 'foreign.tar')], /SHA256SUMS/);
});

test('docker-archive: one platform per image, read by skopeo docker-archive: with the right layers', async () => {
  const out = join(work, 'app.tar');
  await cliOk(['save', 'site/app:v2', 'site/k3s:v1', '--format', 'docker-archive', '--platform', 'linux/arm64', '-o', out]);
  const names = members(out);
  assert.ok(names.includes('manifest.json'));
  const inspect = JSON.parse((await cliOk(['inspect', '--json', '--platform', 'linux/arm64', 'site/app:v2'])).stdout);
  const arm = inspect.images?.find((i: { platform: { architecture: string } }) => i.platform.architecture === 'arm64') ?? inspect;
  const seen = JSON.parse(run('skopeo', ['inspect', `docker-archive:${out}:site/app:v2`]));
  assert.equal(seen.Architecture, 'arm64');
  assert.equal(seen.Labels.role, 'app');
  // skopeo names docker-archive layers by diff_id (the uncompressed tar), as docker does.
  assert.deepEqual(seen.Layers, arm.config.rootfs.diff_ids);
  const k3s = JSON.parse(run('skopeo', ['inspect', `docker-archive:${out}:site/k3s:v1`]));
  assert.equal(k3s.Labels.role, 'cluster');
  // Shared layers once: 2 configs plus one set of layers.
  const files = names.filter((n) => /^blobs\/sha256\/[a-f0-9]{64}$/.test(n));
  assert.equal(files.length, 2 + arm.manifest.layers.length);
  // The layers unpack: skopeo copies it into an OCI layout.
  run('skopeo', ['copy', `docker-archive:${out}:site/app:v2`, `oci:${join(work, 'copied')}:app`]);

  const bad = await sealbuild(root, ['save', 'site/app:v2', '--format', 'docker-archive', '--platform', 'linux/s390x', '-o', out], { env });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^Error: image "docker.io\/site\/app:v2" has no linux\/s390x variant \(it has: linux\/amd64, linux\/arm64\)/);
});

test('load takes a docker-archive (save --format docker-archive, gzip too) and an oci-archive skopeo wrote, by their names', async () => {
  const archive = join(work, 'load-docker.tar.gz');
  await cliOk(['save', 'site/app:v2', 'site/k3s:v1', '--format', 'docker-archive', '--platform', 'linux/arm64', '-o', archive]);
  const far = join(work, 'far-docker');
  const loaded = (await cliOk(['load', '-i', archive], far)).stdout.trim().split('\n').sort();
  assert.deepEqual(loaded.map((l) => l.split(' ')[0]), ['docker.io/site/app:v2', 'docker.io/site/k3s:v1']);
  // The format keeps each image's config and layers (not its manifest): those come back byte for byte.
  for (const name of ['site/app:v2', 'site/k3s:v1']) {
    const there = JSON.parse((await cliOk(['inspect', '--json', '--platform', 'linux/arm64', name])).stdout);
    const here = JSON.parse((await cliOk(['inspect', '--json', name], far)).stdout);
    assert.equal(here.platform, 'linux/arm64');
    assert.equal(here.manifest.config.digest, there.manifest.config.digest);
    assert.deepEqual(here.manifest.layers.map((l: { digest: string }) => l.digest), there.manifest.layers.map((l: { digest: string }) => l.digest));
    // verify reads every layer (diff_ids checked) and judges the loaded image as it judges the original.
    const verify = async (r: string) => {
      const result = await sealbuild(r, ['verify', '--platform', 'linux/arm64', name], { env });
      return { code: result.code, checks: result.stdout.split('\n').slice(1) };
    };
    assert.deepEqual(await verify(far), await verify(root));
  }

  // skopeo writes the name as the index's org.opencontainers.image.ref.name.
  const plain = join(work, 'load-docker.tar');
  await cliOk(['save', 'site/app:v2', '--format', 'docker-archive', '--platform', 'linux/arm64', '-o', plain]);
  const oci = join(work, 'skopeo-oci.tar');
  run('skopeo', ['copy', `docker-archive:${plain}:site/app:v2`, `oci-archive:${oci}:docker.io/site/copied:v9`]);
  const fromOci = join(work, 'far-oci');
  assert.match((await cliOk(['load', '-i', oci], fromOci)).stdout, /^docker\.io\/site\/copied:v9 sha256:[a-f0-9]{64}\n$/);
  const copied = JSON.parse((await cliOk(['inspect', '--json', 'site/copied:v9'], fromOci)).stdout);
  assert.equal(copied.config.config.Labels.role, 'app');

  // Untrusted: a nameless image, a changed byte, are refused with one line and nothing stored.
  run('skopeo', ['copy', `docker-archive:${plain}:site/app:v2`, `oci-archive:${join(work, 'nameless.tar')}`]);
  await expectRefused(fromOci, ['load', '-i', join(work, 'nameless.tar')], /has no name \(no org\.opencontainers\.image\.ref\.name in index\.json\) \(hint: /);
  const bytes = await readFile(plain);
  const config = (JSON.parse((await cliOk(['inspect', '--json', '--platform', 'linux/arm64', 'site/app:v2'])).stdout).manifest.config.digest as string).slice(7);
  const at = bytes.indexOf('"role":"app"');
  assert.ok(at > 0);
  bytes[at + 9] = 'x'.charCodeAt(0);
  await writeFile(join(work, 'changed.tar'), bytes);
  await expectRefused(fromOci, ['load', '-i', join(work, 'changed.tar')], new RegExp(`member blobs/sha256/${config} does not match its digest`));
  await expectRefused(fromOci, ['load', '-i', plain, '--verify-key', join(work, 'absent.pub')], /carries no signatures/);
  // A name outside the archive is no file it holds: nothing is read from the host.
  const hostile = join(work, 'hostile');
  await mkdir(hostile);
  await writeFile(join(hostile, 'manifest.json'), JSON.stringify([{ Config: '../../../../etc/hostname', RepoTags: ['site/evil:v1'], Layers: [] }]));
  run('tar', ['-cf', join(work, 'hostile.tar'), '-C', hostile, 'manifest.json']);
  await expectRefused(fromOci, ['load', '-i', join(work, 'hostile.tar')], /manifest\.json names \.\.\/\.\.\/\.\.\/\.\.\/etc\/hostname, which the archive does not hold/);
});

test('save --platform writes one platform of each image for every format; save says what it wrote', async () => {
  const info = JSON.parse((await cliOk(['inspect', '--json', 'site/k3s:v1'])).stdout);
  const amd64 = info.images.find((i: { platform: string }) => i.platform === 'linux/amd64');
  const arm64 = info.images.find((i: { platform: string }) => i.platform === 'linux/arm64');
  const archive = join(work, 'k0s-images-amd64.tar');
  const saved = await cliOk(['save', 'site/k3s:v1', '--platform', 'linux/amd64', '-o', archive]);
  assert.equal(saved.stdout, `docker.io/site/k3s:v1 ${amd64.digest}\n`);
  // The saved platform's SBOM goes along, not the other platform's.
  assert.match(saved.stderr, new RegExp(`^Wrote ${archive}: oci-archive, 1 image\\(s\\), [\\d.]+ [kMG]?B\\n${archive} carries 1 SBOM\\(s\\)`));
  assert.equal(rawDigest(run('skopeo', ['inspect', '--raw', `oci-archive:${archive}:docker.io/site/k3s:v1`])), amd64.digest);
  const blobs = members(archive).filter((n) => /^blobs\/sha256\/[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n.slice(-64)}`);
  assert.ok(!blobs.includes(arm64.manifest.config.digest) && !blobs.includes(arm64.digest), 'nothing of arm64');
  const loaded = join(work, 'root-amd64-only');
  assert.equal((await cliOk(['load', '-i', archive], loaded)).stdout, `docker.io/site/k3s:v1 ${amd64.digest}\n`);
  assert.equal(JSON.parse((await cliOk(['inspect', '--json', 'site/k3s:v1'], loaded)).stdout).platform, 'linux/amd64');

  const dir = join(work, 'arm64-dir');
  assert.equal((await cliOk(['save', 'site/k3s:v1', '--format', 'oci-dir', '--platform', 'linux/arm64', '-o', dir])).stdout, `docker.io/site/k3s:v1 ${arm64.digest}\n`);
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')).manifests.map((m: { digest: string }) => m.digest), [arm64.digest]);
  // Without --platform every platform is kept: the index itself.
  assert.equal((await cliOk(['save', 'site/k3s:v1', '-o', join(work, 'all.tar')])).stdout, `docker.io/site/k3s:v1 ${digests['site/k3s:v1']}\n`);
  const absent = await sealbuild(root, ['save', 'site/k3s:v1', '--platform', 'linux/s390x', '-o', join(work, 'none.tar')], { env });
  assert.equal(absent.code, 1);
  assert.match(absent.stderr, /^Error: image "docker.io\/site\/k3s:v1" has no linux\/s390x variant/);
});

test('save to .tar.zst without the zstd tool names the missing tool and leaves no file', async () => {
  const out = join(work, 'no-zstd.tar.zst');
  const result = await sealbuild(root, ['save', 'site/app:v2', '-o', out], { env: { ...env, PATH: '/nonexistent' } });
  assert.deepEqual({ code: result.code, stderr: result.stderr }, {
    code: 1,
    stderr: 'Error: cannot compress the archive with zstd: "zstd" is not installed (hint: install it, e.g. apt-get install zstd)\n',
  });
  assert.deepEqual((await readdir(work)).filter((n) => n.startsWith('no-zstd')), []);
});

test('load reads the OCI layout directory save --format oci-dir writes; a damaged one is refused, the store unchanged', async () => {
  const dir = join(work, 'layout-dir');
  await cliOk(['save', 'site/k3s:v1', 'site/app:v2', '--format', 'oci-dir', '-o', dir]);
  const target = join(work, 'root-from-dir');
  const loaded = await cliOk(['load', '-i', dir], target);
  assert.equal(loaded.stdout, `docker.io/site/k3s:v1 ${digests['site/k3s:v1']}\ndocker.io/site/app:v2 ${digests['site/app:v2']}\n`);
  assert.match(loaded.stderr, new RegExp(`^Loaded 2 image\\(s\\) and 4 SBOM\\(s\\), \\d+ new blob\\(s\\) from ${dir}\\n$`));
  // Every platform came with its blobs: each can be unpacked.
  for (const platform of ['linux/amd64', 'linux/arm64']) await cliOk(['export', 'site/app:v2', '--platform', platform, '-o', join(work, `from-dir-${platform.slice(6)}`)], target);

  // A flipped byte in a layer, and an index.json that is not JSON: one line each, with a hint.
  const info = JSON.parse((await cliOk(['inspect', '--json', 'site/app:v2'])).stdout);
  const layer = (info.images[0].manifest.layers.at(-1).digest as string).slice(7);
  const layerFile = join(dir, 'blobs', 'sha256', layer);
  const bytes = await readFile(layerFile);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  await writeFile(layerFile, bytes);
  const fresh = join(work, 'root-damaged-dir');
  await cliOk(['prune'], fresh);
  await expectRefused(fresh, ['load', '-i', dir], new RegExp(`blobs/sha256/${layer} does not match its digest or size \\(hint: `));
  await writeFile(join(dir, 'index.json'), '{"schemaVersion": 2, "manif');
  await expectRefused(fresh, ['load', '-i', dir], /index\.json: not valid JSON .* \(hint: the bundle is corrupt/);
  // A "manifest" of 17 MiB (its digest right): refused before it is read into memory.
  const huge = Buffer.alloc(17 * 1024 * 1024, 0x20);
  const hugeDigest = createHash('sha256').update(huge).digest('hex');
  await writeFile(join(dir, 'blobs', 'sha256', hugeDigest), huge);
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${hugeDigest}`, size: huge.length }] }));
  await expectRefused(fresh, ['load', '-i', dir], new RegExp(`manifest sha256:${hugeDigest} is ${huge.length} bytes, more than the 16777216 sealbuild reads into memory \\(hint: `));
});

test('a damaged index.json in the store is one line with a hint', async () => {
  const r = join(work, 'root-bad-index');
  await cliOk(['prune'], r);
  await writeFile(join(r, 'oci', 'index.json'), '{"manifests": 3}');
  const result = await sealbuild(r, ['images'], { env });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^Error: [^\n]*index\.json: invalid document at [^\n]* \(hint: the store's tag list was damaged or edited by hand[^\n]*\)\n$/);
});

test('the store is read directly as the README says: skopeo picks a platform, umoci refuses a multi-platform tag', async () => {
  tool('umoci', 'umoci');
  const ref = `oci:${join(root, 'oci')}:docker.io/site/k3s:v1`;
  assert.equal(JSON.parse(run('skopeo', ['inspect', '--override-arch', 'arm64', ref])).Architecture, 'arm64');
  const copied = join(work, 'arm64-layout');
  run('skopeo', ['copy', '--override-arch', 'arm64', ref, `oci:${copied}:docker.io/site/k3s:v1`]);
  run('umoci', ['unpack', '--rootless', '--image', `${copied}:docker.io/site/k3s:v1`, join(work, 'arm64-bundle')]);
  assert.throws(() => run('umoci', ['unpack', '--rootless', '--image', `${join(root, 'oci')}:docker.io/site/k3s:v1`, join(work, 'ambiguous-bundle')]), /ambiguous/);
});

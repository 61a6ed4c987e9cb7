import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { removeDir, sealbuildOk, tempDir } from '../helpers/cli.js';
import { TIMEOUT_ARGS, expectRefused, imageRoutes, makeImage, plantImage, startHostileRegistry, tarOf, zeroBomb, type TestImage } from '../helpers/hostile-registry.js';

/*
 * Issue #19, points 4-6: layers that lie about their content (config diff_ids), layers that are
 * damaged, and decompression bombs. Pull (from a hostile registry) checks blobs against their
 * digests and sizes only, as skopeo and crane do, and stores such layers; every reader of a
 * layer's contents (build FROM, COPY --from, export, sbom, verify, run, load) refuses them, the
 * stored ones pulled or planted by hand, with one line naming the image and the layer, and
 * leaves nothing.
 */
let work: string;
let honestTar: Buffer;
let honest: TestImage;

before(async () => {
  work = await tempDir('sealbuild-hostile-layers-');
  honestTar = await tarOf({ 'etc/hello': 'hello\n', 'bin/tool': 'an amd64 tool\n' });
  honest = makeImage({ repo: 'honest/app', tars: [honestTar] });
});
after(async () => {
  await removeDir(work);
});

/** A store holding the honest image (pulled from an honest registry). */
async function newRoot(): Promise<string> {
  const root = await mkdtemp(join(work, 'root-'));
  await pullStored(root, honest);
  return root;
}

const run = promisify(execFile);

const LAYER_NAMED = (image: TestImage): string => `layer ${image.layers[0]!.digest}`;

/** Pulls `image` (tag 1) from a registry serving it as given, which must succeed; returns the name it is stored under. */
async function pullStored(root: string, image: TestImage): Promise<string> {
  const registry = await startHostileRegistry(imageRoutes(image));
  try {
    const name = `${registry.host}/${image.repo}:1`;
    await sealbuildOk(root, [...TIMEOUT_ARGS, 'pull', '--platform', 'linux/amd64', name]);
    return name;
  } finally {
    await registry.stop();
  }
}

const esc = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A scratch context whose Kubefile is `kubefile`. */
async function contextWith(kubefile: string): Promise<string> {
  const context = await mkdtemp(join(work, 'ctx-'));
  await writeFile(join(context, 'Kubefile'), kubefile);
  return context;
}

/**
 * Every reader of a stored image's layer contents refuses `name`, naming it and its layer, with
 * `says` (a regexp source): export (leaving nothing), build FROM, COPY --from, sbom, verify, and
 * run before any host is touched (198.18.2.1 is never reached). Nothing is remembered of the layer.
 */
async function everyReaderRefuses(root: string, name: string, image: TestImage, says: string): Promise<void> {
  const layer = `${LAYER_NAMED(image)}: ${says}`;
  const out = join(work, `export-${Date.now()}`);
  await expectRefused(root, ['export', '-o', out, name], new RegExp(`image ${esc(name)}: ${layer}`));
  assert.deepEqual(await readdir(out), [], 'nothing is left in the export target');
  const build = ['build', '-t', 'out:1', '--platform', 'linux/amd64'];
  await expectRefused(root, [...build, await contextWith(`FROM ${name}\nCOPY Kubefile /Kubefile\n`)], new RegExp(`FROM ${esc(name)}: ${layer}`));
  await plantImage(root, honest, 'docker.io/planted/honest:1');
  await expectRefused(root, [...build, await contextWith(`FROM planted/honest:1\nCOPY --from=${name} /bin/tool /tool\n`)], new RegExp(`image "${esc(name)}": ${layer}`));
  await expectRefused(root, ['sbom', name], new RegExp(`image ${esc(name)}: ${layer}`));
  await expectRefused(root, ['verify', name], new RegExp(`image ${esc(name)} \\(linux/amd64\\): ${layer}`));
  await expectRefused(root, ['run', name, '--masters', '198.18.2.1'], new RegExp(`image ${esc(name)} \\(linux/amd64\\): ${layer}`));
  assert.deepEqual(await readdir(join(root, 'cache', 'layer-facts')).catch(() => []), [], 'nothing is remembered of the lying layer');
}

test('4: pull stores an image whose config lies about a diff_id (it checks blobs, it decompresses no layer); every reader of its layers refuses it', async () => {
  const lying = makeImage({ repo: 'hostile/lying', tars: [await tarOf({ 'bin/tool': 'an arm64 tool\n' })], diffIds: [honest.layers[0]!.diffId] });
  const root = await newRoot();
  const name = await pullStored(root, lying);
  await everyReaderRefuses(root, name, lying, `its content is sha256:[0-9a-f]{64}, but the image config says ${honest.layers[0]!.diffId}`);
});

test('4: a pulled blob the store knows under its true diff_id is still checked against a config that says another', async () => {
  // The honest image's own blob, with a config that says it is something else; what a build
  // FROM the honest image remembered of that blob is kept under its true diff_id only.
  const other = `sha256:${'1'.repeat(64)}`;
  const lying = makeImage({ repo: 'hostile/reuse', blobs: [honest.layers[0]!.blob], diffIds: [other] });
  const root = await newRoot();
  await plantImage(root, honest, 'docker.io/planted/honest:1');
  await sealbuildOk(root, ['build', '-t', 'first:1', '--platform', 'linux/amd64', await contextWith('FROM planted/honest:1\nCOPY Kubefile /etc/Kubefile\n')]);
  const remembered = await readdir(join(root, 'cache', 'layer-facts'));
  assert.ok(remembered.length > 0, 'the honest layer is remembered');
  const name = await pullStored(root, lying);
  const context = await contextWith(`FROM ${name}\nCOPY Kubefile /etc/Kubefile\n`);
  await expectRefused(root, ['build', '-t', 'out:1', '--platform', 'linux/amd64', context], new RegExp(`FROM ${esc(name)}: ${LAYER_NAMED(lying)}: its content is ${honest.layers[0]!.diffId}, but the image config says ${other}`));
  assert.deepEqual(await readdir(join(root, 'cache', 'layer-facts')), remembered, 'nothing is remembered of the lying pair');
});

test('4: export and build FROM refuse a stored image whose config lies', async () => {
  const lying = makeImage({ repo: 'planted/lying', tars: [await tarOf({ 'bin/tool': 'x\n' })], diffIds: [honest.layers[0]!.diffId] });
  const root = await newRoot();
  await plantImage(root, lying, 'docker.io/planted/lying:1');
  const out = join(work, `export-${Date.now()}`);
  await expectRefused(root, ['export', '-o', out, 'planted/lying:1'], new RegExp(`image docker.io/planted/lying:1: ${LAYER_NAMED(lying)}: its content is`));
  assert.deepEqual(await readdir(out), [], 'nothing is left in the export target');
  const context = await mkdtemp(join(work, 'ctx-'));
  await writeFile(join(context, 'Kubefile'), 'FROM planted/lying:1\nCOPY Kubefile /Kubefile\n');
  await expectRefused(root, ['build', '-t', 'out:1', '--platform', 'linux/amd64', context], new RegExp(`${LAYER_NAMED(lying)}: its content is`));
});

test('4: a lying image does not reuse what the store remembers of the honest layer its config names', async () => {
  // The honest image's facts and paths are remembered by a build FROM it; the lying image's
  // config names the honest diff_id for another blob, so only a memo keyed by diff_id alone matches.
  const root = await newRoot();
  await plantImage(root, honest, 'docker.io/planted/honest:1');
  const lying = makeImage({ repo: 'planted/lying', tars: [await tarOf({ 'bin/tool': 'an arm64 tool\n' })], diffIds: [honest.layers[0]!.diffId] });
  await plantImage(root, lying, 'docker.io/planted/lying:1');
  const build = async (from: string, expect: RegExp | 'ok'): Promise<void> => {
    const context = await mkdtemp(join(work, 'ctx-'));
    await writeFile(join(context, 'Kubefile'), `FROM ${from}\nCOPY Kubefile /etc/Kubefile\n`);
    const args = ['build', '-t', `out-${Date.now()}:1`, '--platform', 'linux/amd64', context];
    if (expect === 'ok') await sealbuildOk(root, args);
    else await expectRefused(root, args, expect);
  };
  await build('planted/honest:1', 'ok');
  assert.ok((await readdir(join(root, 'cache', 'layer-facts'))).length > 0, 'the honest layer is remembered');
  await build('planted/lying:1', new RegExp(`FROM planted/lying:1: ${LAYER_NAMED(lying)}: its content is sha256:[0-9a-f]{64}, but the image config says ${honest.layers[0]!.diffId}`));
});

/** `save`s a planted image from a scratch store (save copies blobs, it checks no layer) as `format`. */
async function bundleOf(image: TestImage, name: string, format: 'oci-archive' | 'oci-dir'): Promise<string> {
  const source = await mkdtemp(join(work, 'source-'));
  await sealbuildOk(source, ['images']);
  await mkdir(join(source, 'oci', 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(source, 'oci', 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
  await writeFile(join(source, 'oci', 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await plantImage(source, image, name);
  const out = join(work, `bundle-${Date.now()}${format === 'oci-archive' ? '.tar' : ''}`);
  await sealbuildOk(source, ['save', '--format', format, '-o', out, name]);
  return out;
}

test('4: load refuses a bundle whose config lies about a layer, whatever the bundle format', async () => {
  const lying = makeImage({ repo: 'bundled/lying', tars: [await tarOf({ 'bin/tool': 'an arm64 tool\n' })], diffIds: [honest.layers[0]!.diffId] });
  const says = `its content is sha256:[0-9a-f]{64}, but the image config says ${honest.layers[0]!.diffId}`;
  for (const format of ['oci-archive', 'oci-dir'] as const) {
    const bundle = await bundleOf(lying, 'docker.io/bundled/lying:1', format);
    await expectRefused(await newRoot(), ['load', '-i', bundle], new RegExp(`cannot load ${bundle}: image docker\\.io/bundled/lying:1: ${LAYER_NAMED(lying)}: ${says}`));
  }
});

test('4: load checks a layer the store already holds against the bundled config', async () => {
  // The honest blob, in the store already, so an OCI layout directory's copy of it is not read.
  const other = `sha256:${'4'.repeat(64)}`;
  const lying = makeImage({ repo: 'bundled/reuse', blobs: [honest.layers[0]!.blob], diffIds: [other] });
  const bundle = await bundleOf(lying, 'docker.io/bundled/reuse:1', 'oci-dir');
  await expectRefused(await newRoot(), ['load', '-i', bundle], new RegExp(`${LAYER_NAMED(lying)}: its content is ${honest.layers[0]!.diffId}, but the image config says ${other}`));
});

test('5: load names the layer of a truncated gzip layer in a bundle', async () => {
  const tar = await tarOf({ 'etc/big': 'z'.repeat(100_000) });
  const full = gzipSync(tar);
  const damaged = makeImage({ repo: 'bundled/truncated', blobs: [full.subarray(0, full.length - 100)], diffIds: [makeImage({ tars: [tar] }).layers[0]!.diffId] });
  const bundle = await bundleOf(damaged, 'docker.io/bundled/truncated:1', 'oci-archive');
  await expectRefused(await newRoot(), ['load', '-i', bundle], new RegExp(`cannot load ${bundle}: ${LAYER_NAMED(damaged)}: the layer is damaged \\(unexpected end of file\\)`));
});

test('5: pull stores a truncated gzip layer and a layer that is not gzip (their blobs match their digests); export names the image and the layer', async () => {
  const full = gzipSync(await tarOf({ 'etc/big': 'x'.repeat(100_000) }));
  const truncated = makeImage({ repo: 'hostile/truncated', blobs: [full.subarray(0, full.length - 100)], diffIds: [`sha256:${'2'.repeat(64)}`] });
  const notGzip = makeImage({ repo: 'hostile/notgzip', blobs: [Buffer.from('this is not gzip at all\n')], diffIds: [`sha256:${'3'.repeat(64)}`] });
  for (const [image, says] of [[truncated, 'unexpected end of file'], [notGzip, 'incorrect header check']] as const) {
    const root = await newRoot();
    const name = await pullStored(root, image);
    const out = join(work, `export-${Date.now()}`);
    await expectRefused(root, ['export', '-o', out, name], new RegExp(`image ${esc(name)}: ${LAYER_NAMED(image)}: the layer is damaged \\(${says}\\)`));
    assert.deepEqual(await readdir(out), []);
  }
});

test('5: build FROM and export of a stored image with a truncated layer fail in one line and clean up', async () => {
  const tar = await tarOf({ 'etc/big': 'y'.repeat(100_000) });
  const full = gzipSync(tar);
  const damaged = makeImage({ repo: 'planted/truncated', blobs: [full.subarray(0, full.length - 100)], diffIds: [makeImage({ tars: [tar] }).layers[0]!.diffId] });
  const root = await newRoot();
  await plantImage(root, damaged, 'docker.io/planted/truncated:1');
  const context = await mkdtemp(join(work, 'ctx-'));
  await writeFile(join(context, 'Kubefile'), 'FROM planted/truncated:1\nCOPY Kubefile /etc/Kubefile\n');
  await expectRefused(root, ['build', '-t', 'out:1', '--platform', 'linux/amd64', context], new RegExp(`${LAYER_NAMED(damaged)}: the layer is damaged \\(unexpected end of file\\)`));
  const out = join(work, `export-${Date.now()}`);
  await expectRefused(root, ['export', '-o', out, 'planted/truncated:1'], new RegExp(`image docker.io/planted/truncated:1: ${LAYER_NAMED(damaged)}: the layer is damaged`));
  assert.deepEqual(await readdir(out), []);
});

test('6: pull stores a decompression bomb without unpacking it; export and a build unpacking it refuse it, and --allow-expansion allows it', async () => {
  // 1100 MiB of zeros: past the 1 GiB allowance, about 1000:1.
  const bomb = await zeroBomb(1100 * 1024 ** 2);
  const image = makeImage({ repo: 'hostile/bomb', blobs: [bomb.blob], diffIds: [bomb.diffId] });
  const message = new RegExp(`${LAYER_NAMED(image)}: expands more than 100:1 \\(\\d+ bytes from \\d+\\), a decompression bomb\\? \\(hint: .*--allow-expansion`);
  const root = await newRoot();
  const name = await pullStored(root, image);
  const out = join(work, `export-${Date.now()}`);
  await expectRefused(root, ['export', '-o', out, name], message);
  assert.deepEqual(await readdir(out), [], 'the partly written file is gone');
  await plantImage(root, honest, 'docker.io/planted/honest:1');
  await expectRefused(root, ['build', '-t', 'out:1', '--platform', 'linux/amd64', await contextWith(`FROM planted/honest:1\nCOPY --from=${name} /zeros /zeros\n`)], message);
  // sbom reads every layer to its end and writes none of it out.
  await sealbuildOk(root, ['--allow-expansion', 'sbom', name]);
});

/** Runs `fn` with a 16 MiB tmpfs of the test's own mounted on `dir` (made if missing): less than any layer plus the 64 MiB reserve. */
async function withSmallFs(dir: string, fn: () => Promise<void>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'hostile-small-fs', dir]);
  try {
    await fn();
  } finally {
    await run('umount', [dir]);
  }
}

test('6: before unpacking, the target must have room: an export to a small file system is refused before it writes', async () => {
  const small = await mkdtemp(join(work, 'hostile-small-fs-'));
  await withSmallFs(small, async () => {
    const root = await newRoot();
    await plantImage(root, honest, 'docker.io/planted/honest:1');
    const out = join(small, 'out');
    await expectRefused(root, ['export', '-o', out, 'planted/honest:1'], new RegExp(`image docker\\.io/planted/honest:1: layer 1 \\(${honest.layers[0]!.digest}\\): not enough free space in ${out} to unpack \\d+ bytes of layer \\(\\d+ bytes free\\)`));
    assert.deepEqual(await readdir(out).catch(() => []), [], 'nothing was unpacked');
  });
});

test('6: before unpacking, the build workspace must have room: COPY --from an image with ROOT/tmp on a small file system is refused', async () => {
  const root = await newRoot();
  await plantImage(root, honest, 'docker.io/planted/honest:1');
  const context = await mkdtemp(join(work, 'ctx-'));
  await writeFile(join(context, 'Kubefile'), 'FROM planted/honest:1\nCOPY --from=planted/honest:1 /etc/hello /etc/copied\n');
  // Only the scratch space is small: the store's image and the build's inputs are elsewhere.
  await withSmallFs(join(root, 'tmp'), async () => {
    await expectRefused(root, ['build', '-t', 'out:1', '--platform', 'linux/amd64', context], new RegExp(`image "planted/honest:1": layer ${honest.layers[0]!.digest}: not enough free space in ${root}/tmp/\\S+ to unpack \\d+ bytes of layer \\(\\d+ bytes free\\)`));
  });
});

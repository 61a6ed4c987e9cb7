/*
 * RUN, multi-stage builds, the layer cache and prune, end to end through the CLI. RUN
 * commands use the build host's tools (sealer's model), sandboxed by bubblewrap by default;
 * umoci, skopeo and oci-image-tool check what comes out.
 */
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildSteps, layerSteps, removeDir, run, sealbuild, sealbuildOk, snapshot, tempDir, tool } from '../helpers/cli.js';

let work: string;
let root: string;
let ctx: string;

before(async () => {
  for (const [name, pkg] of [['bwrap', 'bubblewrap'], ['umoci', 'umoci'], ['skopeo', 'skopeo'], ['oci-image-tool', 'oci-image-tool']] as const) tool(name, pkg);
  work = await tempDir('sealbuild-run-');
  root = join(work, 'root');
  ctx = join(work, 'ctx');
  await mkdir(join(ctx, 'conf', 'old'), { recursive: true });
  await writeFile(join(ctx, 'conf', 'keep.conf'), 'keep=1\n');
  await writeFile(join(ctx, 'conf', 'edit.conf'), 'edit=1\n');
  await writeFile(join(ctx, 'conf', 'gone.conf'), 'gone=1\n');
  await writeFile(join(ctx, 'conf', 'old', 'stale.txt'), 'stale\n');
  await writeFile(join(ctx, 'app.txt'), 'version 1\n');
});
after(() => removeDir(work));

async function kubefile(name: string, ...lines: string[]): Promise<string> {
  const file = join(work, `${name}.Kubefile`);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}


/** umoci's view of an image in the store: every path with its type, mode and content or target. */
async function unpacked(ref: string, name: string, store = root): Promise<Map<string, string>> {
  const bundle = join(work, `bundle-${name}`);
  run('umoci', ['unpack', '--rootless', '--image', `${join(store, 'oci')}:${ref}`, bundle]);
  const tree = new Map<string, string>();
  async function walk(dir: string, rel: string): Promise<void> {
    for (const child of (await readdir(dir)).sort()) {
      const abs = join(dir, child);
      const path = rel === '' ? child : `${rel}/${child}`;
      const s = await lstat(abs);
      if (s.isSymbolicLink()) tree.set(path, `-> ${await readlink(abs)}`);
      else if (s.isDirectory()) {
        tree.set(path, `dir ${(s.mode & 0o7777).toString(8)}`);
        await walk(abs, path);
      } else tree.set(path, `${(s.mode & 0o7777).toString(8)} ${await readFile(abs, 'utf8')}`);
    }
  }
  await walk(join(bundle, 'rootfs'), '');
  return tree;
}

test('RUN creates, modifies and deletes files over a lower layer; umoci sees the result', async () => {
  const file = await kubefile('change',
    'FROM scratch',
    'COPY conf /etc/app/',
    'ARG GREETING=hello',
    'ENV MODE=prod',
    'RUN echo "$GREETING $MODE" > etc/app/new.conf && chmod 600 etc/app/new.conf && echo edit=2 >> etc/app/edit.conf'
      + ' && rm etc/app/gone.conf && rm -rf etc/app/old && mkdir etc/app/old && echo fresh > etc/app/old/fresh.txt'
      + ' && mkdir -p bin && ln -s ../etc/app/new.conf bin/conf-link',
  );
  const built = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/run:v1', '-f', file, ctx]);
  assert.deepEqual(layerSteps(built.stderr), ['built COPY conf /etc/app/', `built ${(await readFile(file, 'utf8')).split('\n')[4]}`]);
  const tree = await unpacked('docker.io/test/run:v1', 'change');
  assert.deepEqual([...tree], [
    ['bin', 'dir 755'],
    ['bin/conf-link', '-> ../etc/app/new.conf'],
    ['etc', 'dir 755'],
    ['etc/app', 'dir 755'],
    ['etc/app/edit.conf', '644 edit=1\nedit=2\n'],
    ['etc/app/keep.conf', '644 keep=1\n'],
    ['etc/app/new.conf', '600 hello prod\n'],
    ['etc/app/old', 'dir 755'],
    ['etc/app/old/fresh.txt', '644 fresh\n'],
  ]);
  // The RUN layer holds only the changes: whiteouts for the deleted file, an opaque marker
  // for the replaced directory, and neither keep.conf nor anything under it unchanged.
  const info = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'test/run:v1'])).stdout);
  const runLayer = info.manifest.layers[1].digest.slice('sha256:'.length);
  const listing = run('tar', ['-tzf', join(root, 'oci', 'blobs', 'sha256', runLayer)]).split('\n').filter(Boolean).sort();
  assert.deepEqual(listing, [
    'bin/', 'bin/conf-link', 'etc/', 'etc/app/', 'etc/app/.wh.gone.conf', 'etc/app/edit.conf', 'etc/app/new.conf',
    'etc/app/old/', 'etc/app/old/.wh..wh..opq', 'etc/app/old/fresh.txt',
  ]);
  // Both ways of finding the changes, an overlayfs upper directory (root here) and stat
  // snapshots, make the very same layer.
  const overlay = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/run:overlay', '--no-cache', '-f', file, ctx], { env: { SEALBUILD_RUN_DIFF: 'overlay' } });
  const snapshotDiff = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/run:snapshot', '--no-cache', '-f', file, ctx], { env: { SEALBUILD_RUN_DIFF: 'snapshot' } });
  assert.equal(overlay.stdout, built.stdout);
  assert.equal(snapshotDiff.stdout, built.stdout);
});

test('RUN sees declared ARGs and ENV only, runs in the rootfs, and cannot write to the host', async () => {
  // Outside /tmp, which bwrap replaces with a private tmpfs: a path on the host's own disk.
  const outside = join('/var/tmp', `${basename(work)}-outside.txt`);
  const file = await kubefile('env',
    'FROM scratch',
    'ARG DECLARED',
    'ENV FROM_ENV=yes',
    'RUN env | grep -E "^(DECLARED|UNDECLARED|FROM_ENV|TARGETARCH|ARCH)=" | sort > env.txt; pwd > /tmp/pwd; test "$(cat /tmp/pwd)" = "$PWD" && echo ok > cwd.txt',
    `RUN touch ${outside} 2>/dev/null && echo wrote > host.txt || echo refused > host.txt`,
  );
  await sealbuildOk(root, ['--progress', 'json', '-t', 'test/env:v1', '-f', file, '--build-arg', 'DECLARED=d', '--build-arg', 'UNDECLARED=u', ctx]);
  const tree = await unpacked('docker.io/test/env:v1', 'env');
  assert.equal(tree.get('env.txt'), '644 DECLARED=d\nFROM_ENV=yes\n');
  assert.equal(tree.get('cwd.txt'), '644 ok\n');
  assert.equal(tree.get('host.txt'), '644 refused\n', 'the host is read-only under bwrap');
  assert.ok(!tree.has('tmp'), 'the sandbox /tmp is not the rootfs');
  await assert.rejects(stat(outside));
  // --isolation none: no sandbox, but still the rootfs as working directory and a clean environment.
  // The isolation is part of a RUN's key: the same RUNs, built sandboxed above, run again.
  const none = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/env:none', '-f', file, '--isolation', 'none', '--build-arg', 'DECLARED=d', ctx]);
  assert.deepEqual(layerSteps(none.stderr).map((s) => s.split(' ')[0]), ['built', 'built']);
  assert.equal((await unpacked('docker.io/test/env:none', 'env-none')).get('host.txt'), '644 wrote\n');
  await stat(outside);
  await rm(outside);
});

test('RUN gets no capabilities (root cannot remount the host writable) and sees no home, user runtime dir or store', async () => {
  // A store outside /tmp (which the sandbox replaces anyway), where a default store would be.
  const store = join('/var/tmp', `${basename(work)}-store`);
  const outside = join('/var/tmp', `${basename(work)}-escape.txt`);
  const file = await kubefile('escape',
    'FROM scratch',
    `RUN mount -o remount,bind,rw / 2>/dev/null; touch ${outside} 2>/dev/null && echo wrote > host.txt || echo refused > host.txt`,
    `RUN grep CapEff /proc/self/status > caps.txt; for d in /root /home /run/user ${store}/oci; do echo "$d: $(ls -A $d 2>/dev/null | wc -l)"; done > hidden.txt`,
  );
  try {
    await sealbuildOk(store, ['-t', 'test/escape:v1', '-f', file, ctx]);
    await assert.rejects(stat(outside), 'the host stays read-only');
    const tree = await unpacked('docker.io/test/escape:v1', 'escape', store);
    assert.equal(tree.get('host.txt'), '644 refused\n');
    assert.equal(tree.get('caps.txt'), '644 CapEff:\t0000000000000000\n');
    assert.equal(tree.get('hidden.txt'), `644 /root: 0\n/home: 0\n/run/user: 0\n${store}/oci: 0\n`, 'the store shows only the way to the rootfs');
  } finally {
    await rm(outside, { force: true });
    await removeDir(store);
  }
});

test('--network none leaves RUN only a loopback device', async () => {
  const file = await kubefile('net', 'FROM scratch', 'RUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort > ifaces.txt');
  const host = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/net:host', '-f', file, ctx]);
  assert.deepEqual(layerSteps(host.stderr).map((s) => s.split(' ')[0]), ['built']);
  assert.notEqual((await unpacked('docker.io/test/net:host', 'net-host')).get('ifaces.txt'), '644 lo\n');
  // The network is part of a RUN's key: the RUN built with the host's network is not CACHED
  // under --network none, and the second build with it is.
  const none = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/net:v1', '-f', file, '--network', 'none', ctx]);
  assert.deepEqual(layerSteps(none.stderr).map((s) => s.split(' ')[0]), ['built']);
  assert.equal((await unpacked('docker.io/test/net:v1', 'net')).get('ifaces.txt'), '644 lo\n');
  const again = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/net:v1', '-f', file, '--network', 'none', ctx]);
  assert.deepEqual(layerSteps(again.stderr).map((s) => s.split(' ')[0]), ['CACHED']);
});

test('a failing RUN names its line and exit code, shows its last output and stores nothing', async () => {
  const file = await kubefile('fail', 'FROM scratch', 'COPY app.txt /', 'RUN echo first; echo to-stderr >&2; touch made.txt; exit 3');
  const before = await snapshot(root);
  const result = await sealbuild(root, ['--progress', 'quiet', '-t', 'test/run:v1', '-f', file, ctx]);
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^Error: [^\n]*fail\.Kubefile:3:1: RUN failed with exit code 3: first \| to-stderr \(hint: [^\n]*\)\n$/);
  assert.deepEqual(await snapshot(root), before, 'no blob, cache entry or tag was added');
  assert.deepEqual(await readdir(join(root, 'tmp')), [], 'no scratch left behind');
});

test('RUN without bubblewrap fails with the apt hint instead of running unsandboxed', async () => {
  const file = await kubefile('nobwrap', 'FROM scratch', 'RUN touch marker');
  const before = await snapshot(root);
  const result = await sealbuild(root, ['--progress', 'quiet', '--no-cache', '-t', 'test/nobwrap:v1', '-f', file, ctx], { env: { PATH: '/nonexistent' } });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^Error: RUN needs bubblewrap \(bwrap\), which is not installed \(hint: install it with `apt-get install -y bubblewrap`, or pass --isolation none[^\n]*\)\n$/);
  assert.deepEqual(await snapshot(root), before);
});

test('rebuilds: nothing changed is all CACHED with the same digest; a changed file rebuilds from its COPY on', async () => {
  const file = await kubefile('cache',
    'FROM scratch',
    'COPY conf /etc/cache/',
    'RUN cat etc/cache/keep.conf > derived.txt',
    'COPY app.txt /app/',
    'RUN cat app/app.txt > app/copy.txt',
    'LABEL stage=last',
  );
  const first = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/cache:v1', '-f', file, ctx]);
  assert.deepEqual(layerSteps(first.stderr).map((s) => s.split(' ')[0]), ['built', 'built', 'built', 'built']);
  const again = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/cache:v1', '-f', file, ctx]);
  assert.equal(again.stdout, first.stdout);
  assert.deepEqual(layerSteps(again.stderr).map((s) => s.split(' ')[0]), ['CACHED', 'CACHED', 'CACHED', 'CACHED']);

  // Same size, mtime put back: the stat cache still notices (ctime), so the key follows the content.
  const app = join(ctx, 'app.txt');
  const { mtime } = await stat(app);
  await writeFile(app, 'version 2\n');
  await utimes(app, mtime, mtime);
  const changed = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/cache:v2', '-f', file, ctx]);
  assert.notEqual(changed.stdout, first.stdout);
  assert.deepEqual(layerSteps(changed.stderr), [
    'CACHED COPY conf /etc/cache/', 'CACHED RUN cat etc/cache/keep.conf > derived.txt', 'built COPY app.txt /app/', 'built RUN cat app/app.txt > app/copy.txt',
  ]);
  assert.equal((await unpacked('docker.io/test/cache:v2', 'cache-v2')).get('app/copy.txt'), '644 version 2\n');

  // --no-cache builds every step again, to the same digest.
  const fresh = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/cache:v2', '--no-cache', '-f', file, ctx]);
  assert.equal(fresh.stdout, changed.stdout);
  assert.deepEqual(layerSteps(fresh.stderr).map((s) => s.split(' ')[0]), ['built', 'built', 'built', 'built']);

  // The cache stays on for several platforms.
  const multi = ['--progress', 'json', '-t', 'test/cache:multi', '--platform', 'linux/amd64,linux/arm64', '-f', file, ctx];
  const cold = await sealbuildOk(root, multi);
  const warm = await sealbuildOk(root, multi);
  assert.equal(warm.stdout, cold.stdout);
  assert.deepEqual(layerSteps(warm.stderr).map((s) => s.split(' ')[0]), Array(8).fill('CACHED'));
  await writeFile(app, 'version 1\n');
});

test('a file renamed under a glob is a new input, though its content is the same', async () => {
  const dir = join(work, 'glob-ctx');
  await mkdir(dir);
  await writeFile(join(dir, 'a.yaml'), 'kind: A\n');
  await writeFile(join(dir, 'Kubefile'), 'FROM scratch\nCOPY *.yaml /manifests/\n');
  await sealbuildOk(root, ['--progress', 'json', '-t', 'test/glob:v1', dir]);
  await rename(join(dir, 'a.yaml'), join(dir, 'b.yaml'));
  const renamed = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/glob:v2', dir]);
  assert.deepEqual(layerSteps(renamed.stderr), ['built COPY *.yaml /manifests/']);
  assert.deepEqual([...(await unpacked('docker.io/test/glob:v2', 'glob')).keys()], ['manifests', 'manifests/b.yaml']);
});

test('multi-stage: COPY --from a builder stage; stages nobody uses are not built', async () => {
  const file = await kubefile('multi',
    'FROM scratch AS builder',
    'COPY app.txt /src/',
    'RUN mkdir -p out && tr a-z A-Z < src/app.txt > out/APP.txt && ln -s APP.txt out/link',
    'FROM scratch AS broken',
    'RUN exit 42',
    'FROM scratch',
    'COPY --from=builder /out/ /opt/',
    'COPY --from=0 /src/app.txt /orig.txt',
  );
  const built = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/multi:v1', '-f', file, ctx]);
  assert.doesNotMatch(built.stderr, /exit 42/, 'the unused stage ran');
  assert.match(buildSteps(built.stderr).at(-1)!, /^STEP 6\/6 \[[^\]]+\]: COPY --from=0 /);
  const tree = await unpacked('docker.io/test/multi:v1', 'multi');
  assert.deepEqual([...tree.keys()], ['opt', 'opt/APP.txt', 'opt/link', 'orig.txt']);
  assert.equal(tree.get('opt/APP.txt'), '644 VERSION 1\n');
  assert.equal(tree.get('opt/link'), '-> APP.txt');
  const info = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'test/multi:v1'])).stdout);
  assert.equal(info.manifest.layers.length, 2, 'only the last stage is the image');
  const again = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/multi:v1', '-f', file, ctx]);
  assert.equal(again.stdout, built.stdout);
  assert.deepEqual(layerSteps(again.stderr).map((s) => s.split(' ')[0]), ['CACHED', 'CACHED', 'CACHED', 'CACHED']);
});

test('FROM an earlier stage, and COPY --from an image in the store', async () => {
  await sealbuildOk(root, ['--progress', 'json', '-t', 'test/source:v1', '-f', await kubefile('source', 'FROM scratch', 'COPY conf /etc/src/', 'RUN ln -s keep.conf etc/src/link.conf'), ctx]);
  const file = await kubefile('derived',
    'FROM scratch AS base',
    'COPY app.txt /',
    'FROM base AS derived',
    'RUN cp app.txt derived.txt',
    'FROM scratch',
    'COPY --from=derived /derived.txt /app.txt /out/',
    // The symlink resolves inside the image (to its etc/src/keep.conf), never on the host.
    'COPY --from=test/source:v1 /etc/src/link.conf /out/from-image.conf',
  );
  const built = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/derived:v1', '-f', file, ctx]);
  const tree = await unpacked('docker.io/test/derived:v1', 'derived');
  assert.deepEqual([...tree], [['out', 'dir 755'], ['out/app.txt', '644 version 1\n'], ['out/derived.txt', '644 version 1\n'], ['out/from-image.conf', '644 keep=1\n']]);
  const again = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/derived:v1', '-f', file, ctx]);
  assert.equal(again.stdout, built.stdout);
  assert.deepEqual(layerSteps(again.stderr).map((s) => s.split(' ')[0]), ['CACHED', 'CACHED', 'CACHED', 'CACHED']);
});

test('prune removes the cache and unreferenced blobs; tagged images stay valid', async () => {
  const file = await kubefile('prune', 'FROM scratch', 'COPY app.txt /', 'RUN echo gone > only-in-removed.txt');
  await sealbuildOk(root, ['--progress', 'json', '-t', 'test/prune:removed', '-f', file, ctx]);
  const removed = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'test/prune:removed'])).stdout);
  await sealbuildOk(root, ['rmi', 'test/prune:removed']);
  const blobs = async () => new Set(await readdir(join(root, 'oci', 'blobs', 'sha256')));
  const beforeCount = (await blobs()).size;
  // What the known-layer records (ROOT/cache/compressed, ROOT/cache/layer-keys) point at.
  const indexed = async (): Promise<string[]> => {
    const digests: string[] = [];
    for (const index of ['compressed', 'layer-keys']) {
      for (const name of await readdir(join(root, 'cache', index)).catch(() => [] as string[])) {
        const record = JSON.parse(await readFile(join(root, 'cache', index, name), 'utf8')) as { digest?: string; descriptor?: { digest: string } };
        digests.push(record.digest ?? record.descriptor!.digest);
      }
    }
    return digests;
  };
  assert.ok((await indexed()).includes(removed.manifest.layers[1].digest), 'the RUN layer is indexed before prune');
  // What a killed build leaves: a staged batch, and scratch a RUN made read-only.
  await mkdir(join(root, 'tmp', 'batch-killed', 'ro'), { recursive: true });
  await writeFile(join(root, 'tmp', 'batch-killed', 'ro', 'blob'), 'half written');
  await chmod(join(root, 'tmp', 'batch-killed', 'ro'), 0o500);
  const pruned = await sealbuildOk(root, ['prune']);
  assert.match(pruned.stdout, /^Removed \d+ cache entries and \d+ blobs \([\d.]+ [kMG]?B\)\n$/);
  const after = await blobs();
  assert.ok(after.size < beforeCount);
  assert.ok(!after.has(removed.manifest.layers[1].digest.slice('sha256:'.length)), 'the removed image\'s RUN layer is gone');
  assert.ok(!after.has(removed.digest.slice('sha256:'.length)));
  // The build cache is gone whole; what stays are the blob records, for the blobs that stay.
  assert.deepEqual((await readdir(join(root, 'cache'))).sort(), ['compressed', 'layer-keys']);
  assert.deepEqual(await readdir(join(root, 'tmp')), [], 'leftovers of killed processes are gone');
  const dangling = (await indexed()).filter((d) => !after.has(d.slice('sha256:'.length)));
  assert.deepEqual(dangling, [], 'no index record points at a removed blob');
  // Every tagged image is still whole: skopeo and oci-image-tool read them all.
  const images = JSON.parse((await sealbuildOk(root, ['images', '--json'])).stdout) as { name: string }[];
  assert.ok(images.length >= 5);
  for (const [i, { name }] of images.entries()) {
    run('skopeo', ['inspect', `oci:${join(root, 'oci')}:${name}`]);
    const out = join(work, `validate-${i}`);
    await sealbuildOk(root, ['save', '--format', 'oci-dir', '-o', out, name]);
    assert.match(run('oci-image-tool', ['validate', '--type', 'image', '--ref', `name=${name}`, out]), /Validation succeeded|OK/);
  }
  // The cache is gone: the same build runs its steps again.
  const rebuilt = await sealbuildOk(root, ['--progress', 'json', '-t', 'test/prune:again', '-f', file, ctx]);
  assert.deepEqual(layerSteps(rebuilt.stderr).map((s) => s.split(' ')[0]), ['built', 'built']);
});

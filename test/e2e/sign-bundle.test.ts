import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sealbuild, sealbuildOk, snapshot, writeFiles } from '../helpers/cli.js';
import { registryScratch, removeRegistryScratch, type Registry } from '../helpers/registry.js';

/*
 * Signatures carried offline: `push --sign-key` and `pull --verify-key` keep the cosign
 * signature manifests in the store, `save` puts them in the bundle, and `load --verify-key`
 * and `run --verify-key` check them with no registry.
 */

let work: string;
let registry: Registry;
let h: string;

before(async () => {
  ({ work, registry, h } = await registryScratch());
});
after(() => removeRegistryScratch(registry, work));

test('signatures travel in bundles: load --verify-key accepts the signed image, refuses another key and unsigned images, and imports nothing then', async () => {
  const build = join(work, 'build');
  const keys = join(work, 'k');
  await sealbuildOk(build, ['key', 'generate', '-o', `${keys}1`]);
  await sealbuildOk(build, ['key', 'generate', '-o', `${keys}2`]);
  const ctx = await writeFiles(join(work, 'ctx'), { 'Kubefile': 'FROM scratch\nCOPY a.txt /${ARCH}.txt\n', 'a.txt': 'signed\n' });
  await sealbuildOk(build, ['-t', `${h}/team/app:1`, '--platform', 'linux/amd64,linux/arm64', ctx]);
  await sealbuildOk(build, ['push', '--sign-key', `${keys}1.key`, `${h}/team/app:1`]);

  // The builder's own store kept the signatures push made: its bundle carries them.
  const fromBuilder = join(work, 'from-builder.tar');
  const saved = await sealbuildOk(build, ['save', `${h}/team/app:1`, '-o', fromBuilder]);
  assert.match(saved.stderr, /carries 3 signature manifest\(s\)/);
  const site = join(work, 'site');
  const loaded = await sealbuildOk(site, ['load', '--verify-key', `${keys}1.pub`, '-i', fromBuilder]);
  assert.match(loaded.stderr, /Loaded 1 image\(s\) and 3 signature manifest\(s\).*signatures verified/);
  assert.equal(loaded.stdout, saved.stdout);

  // A connected machine pulls with --verify-key (keeping the signatures), saves one platform, the site loads it.
  const mirror = join(work, 'mirror');
  await sealbuildOk(mirror, ['pull', '--all-platforms', '--verify-key', `${keys}1.pub`, `${h}/team/app:1`]);
  const arm = join(work, 'arm64.tar.zst');
  await sealbuildOk(mirror, ['save', '--platform', 'linux/arm64', `${h}/team/app:1`, '-o', arm]);
  await sealbuildOk(join(work, 'site-arm'), ['load', '--verify-key', `${keys}1.pub`, '-i', arm]);

  // Another key: refused in one line, nothing imported.
  const strict = join(work, 'strict');
  const wrong = await sealbuild(strict, ['load', '--verify-key', `${keys}2.pub`, '-i', fromBuilder]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, new RegExp(`^Error: cannot load .*from-builder\\.tar: ${h}/team/app@sha256:[0-9a-f]{64}: no signature verifies with .*k2\\.pub \\(the signature does not verify with the key\\) \\(hint: [^\\n]+\\)\\n$`));
  const before = await snapshot(strict);
  assert.deepEqual(before.filter((line) => line.startsWith('oci/blobs/sha256/')), [], 'no blob imported');
  assert.match(before.at(-1)!, /"manifests": \[\]/);

  // An unsigned image in the bundle: refused too.
  await sealbuildOk(build, ['-t', `${h}/team/plain:1`, ctx]);
  const plain = join(work, 'plain.tar');
  await sealbuildOk(build, ['save', `${h}/team/plain:1`, '-o', plain]);
  const unsigned = await sealbuild(strict, ['load', '--verify-key', `${keys}1.pub`, '-i', plain]);
  assert.equal(unsigned.code, 1);
  assert.match(unsigned.stderr, /team\/plain@sha256:[0-9a-f]{64} is not signed/);
  assert.deepEqual(await snapshot(strict), before);

  // A signature names the repository it signs: the same bytes under another name are refused.
  await sealbuildOk(build, ['tag', `${h}/team/app:1`, `${h}/other/app:1`]);
  const renamed = join(work, 'renamed.tar');
  await sealbuildOk(build, ['save', `${h}/other/app:1`, '-o', renamed]);
  const moved = await sealbuild(strict, ['load', '--verify-key', `${keys}1.pub`, '-i', renamed]);
  assert.equal(moved.code, 1);
  assert.match(moved.stderr, /other\/app@sha256:[0-9a-f]{64} is not signed/);

  // run --verify-key checks the store before touching any host (198.18.0.2 exists nowhere).
  const wrongRun = await sealbuild(site, ['run', '--verify-key', `${keys}2.pub`, `${h}/team/app:1`, '--masters', '198.18.0.2']);
  assert.equal(wrongRun.code, 1);
  assert.match(wrongRun.stderr, /^Error: .*team\/app@sha256:[0-9a-f]{64}: no signature verifies with .*k2\.pub/);
  const unsignedRun = await sealbuild(build, ['run', '--verify-key', `${keys}1.pub`, `${h}/team/plain:1`, '--masters', '198.18.0.2']);
  assert.equal(unsignedRun.code, 1);
  assert.match(unsignedRun.stderr, /^Error: .*team\/plain@sha256:[0-9a-f]{64} is not signed/);

  // upgrade --verify-key too: refused before the cluster is even looked up; with the right key it goes on to that.
  const wrongUpgrade = await sealbuild(site, ['upgrade', '--verify-key', `${keys}2.pub`, `${h}/team/app:1`, '--cluster', 'nowhere']);
  assert.equal(wrongUpgrade.code, 1);
  assert.match(wrongUpgrade.stderr, /^Error: .*team\/app@sha256:[0-9a-f]{64}: no signature verifies with .*k2\.pub/);
  const unsignedUpgrade = await sealbuild(build, ['upgrade', '--verify-key', `${keys}1.pub`, `${h}/team/plain:1`, '--cluster', 'nowhere']);
  assert.match(unsignedUpgrade.stderr, /^Error: .*team\/plain@sha256:[0-9a-f]{64} is not signed/);
  const signedUpgrade = await sealbuild(site, ['upgrade', '--verify-key', `${keys}1.pub`, `${h}/team/app:1`, '--cluster', 'nowhere']);
  assert.match(signedUpgrade.stderr, /^Error: there is no cluster "nowhere"/);

  // rmi takes an image's signatures with its last name in their repository: other/app names the
  // same digest but is another repository, whose signatures these are not.
  const names = async (root: string): Promise<string[]> =>
    JSON.parse(await readFile(join(root, 'oci', 'index.json'), 'utf8')).manifests.map((d: { annotations: Record<string, string> }) => d.annotations['org.opencontainers.image.ref.name']).sort();
  assert.equal((await names(build)).filter((n) => n.endsWith('.sig')).length, 3);
  const removed = (await sealbuildOk(build, ['rmi', `${h}/team/app:1`])).stdout.split('\n').filter((l) => l !== '');
  // The name, then the three signatures (the index and its two manifests) and the two SBOM referrers indexes.
  assert.equal(removed.length, 6, removed.join('\n'));
  assert.equal(removed[0], `Untagged: ${h}/team/app:1`);
  for (const line of removed.slice(1)) assert.match(line, new RegExp(`^Untagged: ${h}/team/app:sha256-[0-9a-f]{64}(\\.sig)?$`));
  assert.equal(removed.filter((l) => l.endsWith('.sig')).length, 3);
  const left = await names(build);
  assert.deepEqual(left.filter((n) => n.startsWith(`${h}/team/app:`)), []);
  assert.ok(left.includes(`${h}/other/app:1`) && left.includes(`${h}/team/plain:1`), left.join(' '));
  assert.ok(left.some((n) => n.startsWith(`${h}/other/app:sha256-`)), 'the SBOM index of other/app stays');
});

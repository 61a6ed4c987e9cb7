import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cachedImageRefs } from '../../src/airgap/cached-images-annotation.js';
import { parseClusterfile } from '../../src/cluster/clusterfile.js';
import { clusterDir, readClusterState } from '../../src/cluster/state.js';
import { Annotation, MediaType } from '../../src/oci/media-types.js';
import type { Manifest } from '../../src/oci/schemas.js';
import { manifestMediaType } from '../../src/registry/client.js';
import { UserError } from '../../src/util/errors.js';
import { removeDir, tempDir } from '../helpers/cli.js';

/*
 * Issue #15 point 7: every malformed document gives one user error naming where it came from
 * and what is wrong in it (parseJson / checkedDocument in oci/schemas.ts), never a ZodError or
 * a SyntaxError that the CLI would report as a bug.
 */

function refusedWith(fn: () => unknown, message: RegExp, exitCode: 1 | 2 = 1): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `a UserError, not ${String(err)}`);
    assert.match(err.message, message);
    assert.doesNotMatch(err.message, /\n/);
    assert.equal(err.exitCode, exitCode);
    return true;
  });
}

async function rejectsWith(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UserError, `a UserError, not ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

const CLUSTERFILE = 'apiVersion: sealer.io/v2\nkind: Cluster\nspec:\n  image: test/plain:1\n  hosts:\n    - ips: [198.18.4.1]\n      roles: [master]\n';

test('a Clusterfile of the wrong shape is a usage error naming the file and the field', () => {
  assert.equal(parseClusterfile(CLUSTERFILE, 'Clusterfile').image, 'test/plain:1');
  // The command's IMAGE argument overrides spec.image, and stands for it when there is none.
  assert.equal(parseClusterfile(CLUSTERFILE, 'Clusterfile', 'test/other:2').image, 'test/other:2');
  const imageless = CLUSTERFILE.replace(/^ *image: test\/plain:1\n/m, '');
  assert.equal(parseClusterfile(imageless, 'Clusterfile', 'test/other:2').image, 'test/other:2');
  refusedWith(() => parseClusterfile(imageless, 'Clusterfile'), /^Clusterfile: no spec\.image, and no IMAGE argument/, 2);
  refusedWith(() => parseClusterfile(CLUSTERFILE.replace('image: test/plain:1', 'image: [a, b]'), 'Clusterfile'), /^Clusterfile: invalid document at "spec\.image": /, 2);
  refusedWith(() => parseClusterfile(`${CLUSTERFILE}  bogus: 1\n`, 'Clusterfile'), /^Clusterfile: invalid document at "spec": .*bogus/, 2);
});

test('a damaged cluster state names its file, for bad JSON and for a bad shape', async () => {
  const root = await tempDir('sealbuild-state-');
  try {
    await mkdir(clusterDir(root, 'c1'), { recursive: true });
    const file = join(clusterDir(root, 'c1'), 'cluster.json');
    await writeFile(file, '{"version": 1, "name": ');
    await rejectsWith(readClusterState(root, 'c1'), new RegExp(`^cluster state ${file}: not valid JSON`));
    await writeFile(file, '{"version": 2}');
    await rejectsWith(readClusterState(root, 'c1'), new RegExp(`^cluster state ${file}: invalid document at "version"`));
    assert.equal(await readClusterState(root, 'none'), undefined);
  } finally {
    await removeDir(root);
  }
});

test('a malformed cached-images annotation names the image and the annotation', () => {
  const manifest = (value: string): Manifest => ({
    schemaVersion: 2,
    config: { mediaType: MediaType.ociConfig, digest: `sha256:${'0'.repeat(64)}` as Manifest['config']['digest'], size: 2 },
    layers: [],
    annotations: { [Annotation.sealerContainerImages]: value },
  });
  assert.deepEqual(cachedImageRefs(manifest('[{"image":"docker.io/library/nginx:1"}]'), 'test/app:1'), ['docker.io/library/nginx:1']);
  refusedWith(() => cachedImageRefs(manifest('[{"image":'), 'test/app:1'), /^test\/app:1: the sealer\.image\.container\.images annotation: not valid JSON/);
  refusedWith(() => cachedImageRefs(manifest('[{"image":5}]'), 'test/app:1'), /^test\/app:1: the sealer\.image\.container\.images annotation: invalid document at "0\.image"/);
});

test("media-type sniffing reads a manifest's own field and falls back to a manifest for anything else", () => {
  assert.equal(manifestMediaType(Buffer.from(JSON.stringify({ mediaType: MediaType.ociIndex }))), MediaType.ociIndex);
  assert.equal(manifestMediaType(Buffer.from(JSON.stringify({ manifests: [] }))), MediaType.ociIndex);
  for (const junk of ['null', '[1]', '{"mediaType": 7}', 'not json']) assert.equal(manifestMediaType(Buffer.from(junk)), MediaType.ociManifest, junk);
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exampleContext, removeDir, run, sealbuild, sealbuildOk, tempDir, tool } from '../helpers/cli.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

let EXAMPLE: string;
let work: string;
let env: NodeJS.ProcessEnv;
let registry: Registry;

before(async () => {
  tool('skopeo', 'skopeo');
  work = await tempDir();
  EXAMPLE = await exampleContext(work);
  env = { DOCKER_CONFIG: join(work, 'docker'), REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '' };
  registry = await startRegistry();
});
after(async () => {
  await registry?.stop();
  await removeDir(work);
});

test('split build: two runners build and push one arch each; manifest create + push joins them into one index', async () => {
  const repo = `${registry.host}/ci/k3s`;
  const runners = { amd64: join(work, 'runner-a'), arm64: join(work, 'runner-b') };
  const digests: Record<string, string> = {};
  for (const [arch, root] of Object.entries(runners)) {
    const meta = join(work, `${arch}.json`);
    const built = await sealbuildOk(root, ['-t', `${repo}:v1-${arch}`, '--build-mode', 'lite', '--platform', `linux/${arch}`, '--metadata-file', meta, EXAMPLE], { env });
    digests[arch] = built.stdout.trim();
    const metadata = JSON.parse(await readFile(meta, 'utf8'));
    assert.equal(metadata.digest, digests[arch]);
    assert.deepEqual(metadata.tags, [`${repo}:v1-${arch}`]);
    assert.equal(metadata.platforms[0].platform, `linux/${arch}`);
    assert.ok(metadata.platforms[0].layers.length > 0 && metadata.timings.durationMs >= 0);
    await sealbuildOk(root, ['push', `${repo}:v1-${arch}`], { env });
  }
  // Runner A joins them: its own image from the store, runner B's from the registry.
  const root = runners.amd64;
  const created = (await sealbuildOk(root, ['manifest', 'create', `${repo}:v1`, `${repo}:v1-amd64`, `${repo}:v1-arm64`], { env })).stdout.trim();
  const inspected = JSON.parse((await sealbuildOk(root, ['manifest', 'inspect', `${repo}:v1`], { env })).stdout);
  assert.deepEqual(inspected.manifests.map((m: { digest: string; platform: { architecture: string } }) => [m.platform.architecture, m.digest]), [['amd64', digests.amd64], ['arm64', digests.arm64]]);
  const pushed = (await sealbuildOk(root, ['--progress', 'json', 'manifest', 'push', `${repo}:v1`], { env })).stdout.trim();
  assert.equal(pushed, created);

  const raw = run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${repo}:v1`]);
  assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, created);
  const index = JSON.parse(raw);
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.deepEqual(index.manifests.map((m: { digest: string; platform: { os: string; architecture: string } }) => [`${m.platform.os}/${m.platform.architecture}`, m.digest]), [['linux/amd64', digests.amd64], ['linux/arm64', digests.arm64]]);
  const arm = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${repo}:v1`]));
  assert.equal(arm.Architecture, 'arm64');

  // manifest add replaces a platform the list has; inspect reads a list from the registry too.
  await sealbuildOk(root, ['manifest', 'add', `${repo}:v1`, `${repo}:v1-arm64`], { env });
  const remote = JSON.parse((await sealbuildOk(runners.arm64, ['manifest', 'inspect', `${repo}:v1`], { env })).stdout);
  assert.equal(remote.manifests.length, 2);

  // A list naming a manifest the destination repository lacks is refused before the tag moves.
  const other = `${registry.host}/ci/other:v1`;
  const refused = await sealbuild(root, ['--progress', 'quiet', 'manifest', 'push', `${repo}:v1`, other], { env });
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr.trim().split('\n').length, 1);
  assert.match(refused.stderr, /^Error: .*ci\/other:v1: the registry has no manifest sha256:[a-f0-9]{64} \(linux\/amd64\) \(hint: push that platform's image/);
});

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { progressEvents, removeDir, run, sealbuild, sealbuildOk, snapshot, tempDir, tool, writeFiles } from '../helpers/cli.js';
import { pathWithout } from '../helpers/go-tools.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

let work: string;
let seedRoot: string;
let root: string;
let source: Registry;
let env: NodeJS.ProcessEnv;
/** reference in the source registry -> its manifest (or index) digest */
const seeded = new Map<string, string>();
const stops: (() => Promise<void>)[] = [];

const context = writeFiles;

/** The digest of the manifest bytes a registry serves for `ref` (skopeo --raw, hashed). */
function servedDigest(ref: string): string {
  const raw = run('sh', ['-c', `skopeo inspect --raw --tls-verify=false docker://${ref} | sha256sum | cut -d' ' -f1`]).trim();
  return `sha256:${raw}`;
}

before(async () => {
  tool('skopeo', 'skopeo');
  work = await tempDir();
  seedRoot = join(work, 'seed-root');
  root = join(work, 'root');
  // Charts here go through the values fallback (helm-charts.test.ts renders them with helm).
  env = { DOCKER_CONFIG: join(work, 'docker'), PATH: pathWithout('helm') };
  source = await startRegistry();
  stops.push(source.stop);
  // Ten small images sharing a base layer, one of them for two platforms, seeded with skopeo.
  const seedCtx = await context(join(work, 'seed'), { 'shared.txt': 'a layer every image has\n' });
  const names: string[] = [];
  for (let i = 0; i < 10; i++) {
    await writeFile(join(seedCtx, 'unique.txt'), `image ${i}\n`);
    await writeFile(join(seedCtx, 'Kubefile'), i === 0 ? 'FROM scratch\nCOPY shared.txt /\nCOPY unique.txt /${ARCH}.txt\n' : 'FROM scratch\nCOPY shared.txt /\nCOPY unique.txt /\n');
    const name = i === 0 ? 'seed/multi:1' : `seed/app${i}:v${i}`;
    await sealbuildOk(seedRoot, ['-t', name, '--platform', i === 0 ? 'linux/amd64,linux/arm64' : 'linux/amd64', seedCtx]);
    names.push(name);
  }
  const layout = join(work, 'seed-layout');
  await sealbuildOk(seedRoot, ['save', '--format', 'oci-dir', '-o', layout, ...names]);
  for (const name of names) {
    const dest = `${source.host}/${name.replace(/^seed\//, 'team/')}`;
    run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout}:docker.io/${name}`, `docker://${dest}`]);
    seeded.set(dest, servedDigest(dest));
  }
});
after(async () => {
  for (const stop of stops.reverse()) await stop();
  await removeDir(work);
});

test('images named by imageList, workloads, CRD fields and chart values are cached into a servable registry/', async () => {
  const h = source.host;
  const byDigest = `${h}/team/app9@${seeded.get(`${h}/team/app9:v9`)}`;
  const ctx = await context(join(work, 'cluster'), {
    Kubefile: 'FROM scratch\nCOPY manifests manifests\nCOPY charts charts\nAPP web local://web.yaml\n',
    'manifests/imageList': `# cluster images\n${h}/team/app1:v1\n${h}/team/multi:1   # two platforms\n${byDigest}\n`,
    'manifests/workloads.yaml': [
      'apiVersion: apps/v1', 'kind: Deployment', 'metadata: {name: a}', 'spec:', '  template:', '    spec:',
      `      initContainers: [{name: init, image: "${h}/team/app2:v2"}]`, `      containers: [{name: main, image: "${h}/team/app3:v3"}]`,
      '---', 'apiVersion: batch/v1', 'kind: CronJob', 'metadata: {name: b}', 'spec:', '  jobTemplate:', '    spec:', '      template:', '        spec:',
      `          containers: [{name: job, image: "${h}/team/app4:v4"}]`,
      '---', 'apiVersion: example.com/v1', 'kind: Kafka', 'metadata: {name: k}', `spec: {kafka: {image: "${h}/team/app5:v5"}}`,
      '---', 'kind: ConfigMap', 'apiVersion: v1', 'metadata: {name: c}', 'data: {image: "not/an-image:1"}',
      '',
    ].join('\n'),
    'charts/mychart/Chart.yaml': 'apiVersion: v2\nname: mychart\nversion: 0.1.0\n',
    'charts/mychart/values.yaml': `image:\n  registry: ${h}\n  repository: team/app6\n  tag: v6\nsidecar:\n  image: "{{ .Values.global.sidecar }}"\n`,
    'charts/mychart/templates/deploy.yaml': 'kind: Deployment\nspec: {template: {spec: {containers: [{image: "{{ .Values.image.repository }}"}]}}}\n',
    'web.yaml': `kind: Pod\napiVersion: v1\nmetadata: {name: web}\nspec: {containers: [{name: web, image: "${h}/team/app7:v7"}]}\n`,
  });
  const extraList = join(work, 'extra.txt');
  await writeFile(extraList, `${h}/team/app8:v8\n${h}/team/app3:v3\n`);
  const ignored = join(work, 'ignored.txt');
  await writeFile(ignored, `${h}/team/app8:v8\n`);
  const args = ['-t', 'cluster/img:1', '--platform', 'linux/amd64', '--image-list', extraList, '--ignored-image-list', ignored, '--image-field', 'Kafka=spec.kafka.image', ctx];
  const first = await sealbuildOk(root, ['--progress', 'json', ...args], { env });
  const events = progressEvents(first.stderr) as { event: string; images?: number; downloadedBytes?: number; message?: string }[];
  assert.equal(events.find((e) => e.event === 'images-cached')!.images, 9);
  assert.ok(events.find((e) => e.event === 'images-cached')!.downloadedBytes! > 0);
  assert.ok(events.some((e) => e.event === 'warning' && /helm is not installed/.test(e.message ?? '')));
  assert.ok(events.some((e) => e.event === 'warning' && /still a template/.test(e.message ?? '')));

  // Serve the exported registry/ folder with a second, independent registry.
  const rootfs = join(work, 'rootfs');
  await sealbuildOk(root, ['export', 'cluster/img:1', '-o', rootfs], { env });
  const served = await startRegistry({ storageDir: join(rootfs, 'registry') });
  stops.push(served.stop);
  const expected = ['app1:v1', 'app2:v2', 'app3:v3', 'app4:v4', 'app5:v5', 'app6:v6', 'app7:v7', 'multi:1'];
  for (const name of expected) {
    const digest = seeded.get(`${h}/team/${name}`)!;
    assert.equal(servedDigest(`${served.host}/team/${name}`), digest, `${name} by tag`);
    assert.equal(servedDigest(`${served.host}/team/${name.split(':')[0]}@${digest}`), digest, `${name} by digest`);
    // Every blob comes back and verifies (skopeo checks digests while copying).
    run('skopeo', ['copy', '--src-tls-verify=false', `docker://${served.host}/team/${name}`, `oci:${join(work, 'copied')}:${name}`]);
  }
  assert.equal(servedDigest(`${served.host}/team/app9@${seeded.get(`${h}/team/app9:v9`)}`), seeded.get(`${h}/team/app9:v9`));
  // The multi-platform index keeps its digest but holds only the platform built for.
  const failure = run('sh', ['-c', `skopeo copy --override-arch arm64 --src-tls-verify=false docker://${served.host}/team/multi:1 oci:${join(work, 'arm')}:x 2>&1 || true`]);
  assert.match(failure, /manifest unknown|not found|404/i);

  const lock = JSON.parse(await readFile(join(rootfs, 'images.lock'), 'utf8')) as { ref: string; digest: string; platform: string; size: number }[];
  assert.deepEqual(lock.map((l) => l.ref).sort(), [...expected.map((n) => `${h}/team/${n}`), byDigest].sort());
  assert.ok(lock.every((l) => l.platform === 'linux/amd64' && l.size > 0));
  assert.equal(lock.find((l) => l.ref === `${h}/team/multi:1`)!.digest, seeded.get(`${h}/team/multi:1`));
  const info = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'cluster/img:1'], { env })).stdout);
  const annotated = JSON.parse(info.annotations['sealer.image.container.images']) as { image: string; appName?: string; platform: unknown }[];
  assert.equal(annotated.find((a) => a.image === `${h}/team/app7:v7`)!.appName, 'web');
  // sealer decodes `platform` into its Platform struct: an object, never a string (#14 point 6).
  for (const entry of annotated) assert.deepEqual(entry.platform, { architecture: 'amd64', os: 'linux' });
  assert.equal(info.config.history.at(-1).created_by, 'sealbuild: cache 9 images into registry/');

  // With the source registry gone, a rebuild downloads nothing and gives the same image.
  await source.stop();
  const again = await sealbuildOk(root, ['--progress', 'json', ...args], { env });
  assert.equal(again.stdout.trim(), first.stdout.trim());
  const cachedEvent = progressEvents(again.stderr).find((e) => e.event === 'images-cached')!;
  assert.equal(cachedEvent.downloadedBytes, 0);
});

test('bad input: a missing image, an unreachable registry, broken YAML, colliding paths; store unchanged', async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ 'manifests/imageList': '127.0.0.1:1/team/none:1\n' }, /cannot reach registry 127\.0\.0\.1:1/],
    [{ 'manifests/bad.yaml': 'kind: Pod\nspec: [unclosed\n' }, /manifests\/bad\.yaml:\d+: not valid YAML/],
    [{ 'manifests/imageList': 'Bad Ref!\n' }, /manifests\/imageList:1: invalid image reference/],
    [{ 'manifests/imageList': 'quay.io/library/nginx:1\ndocker.io/library/nginx:1\n' }, /would share registry\/ repository library\/nginx/],
  ];
  for (const [i, [files, pattern]] of cases.entries()) {
    const ctx = await context(join(work, `bad-${i}`), { Kubefile: 'FROM scratch\nCOPY manifests manifests\n', ...files });
    const before = await snapshot(root);
    const result = await sealbuild(root, ['--progress', 'quiet', '-t', 'bad/img:1', ctx], { env });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, pattern);
    assert.deepEqual(await snapshot(root), before);
  }
});

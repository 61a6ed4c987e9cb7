import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { run, sealbuild, sealbuildOk, tool } from '../helpers/cli.js';
import { GO_TOOLS_BIN, goTool, pathWithout } from '../helpers/go-tools.js';
import { registryScratch, removeRegistryScratch, type Registry } from '../helpers/registry.js';

/*
 * Chart discovery against real helm: for each kind of chart users ship, the images sealbuild
 * caches must be exactly those that `helm template` renders, read by an independent walk
 * (every `image` value in every rendered document).
 */

let work: string;
let root: string;
let registry: Registry;
let helm: string;
let h: string;
/** sealbuild sees helm through PATH, as a user's machine does. */
const withHelm = () => ({ DOCKER_CONFIG: join(work, 'docker'), PATH: `${GO_TOOLS_BIN}:${process.env.PATH}` });
const withoutHelm = () => ({ DOCKER_CONFIG: join(work, 'docker'), PATH: pathWithout('helm') });

async function files(dir: string, content: Record<string, string>): Promise<string> {
  for (const [path, text] of Object.entries(content)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

const deployment = (name: string, image: string) =>
  ['apiVersion: apps/v1', 'kind: Deployment', `metadata: {name: ${name}}`, 'spec:', '  template:', '    spec:', '      containers:', `      - name: ${name}`, `        image: ${image}`, ''].join('\n');

/** Every chart fixture: the files under charts/ of one ClusterImage, written by `h` (the registry). */
function charts(): Record<string, Record<string, string>> {
  return {
    // Image built in a template from values and .Chart.AppVersion; an init container by printf.
    templated: {
      'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: "1.0"\n',
      'charts/web/values.yaml': `image:\n  registry: ${h}\n  repository: team/web\nsidecar:\n  repository: team/sidecar\n  tag: "2"\n`,
      'charts/web/templates/deployment.yaml': [
        'apiVersion: apps/v1', 'kind: Deployment', 'metadata: {name: {{ .Release.Name }}}', 'spec:', '  template:', '    spec:',
        '      initContainers:', '      - name: init', '        image: {{ printf "%s/%s:%s" .Values.image.registry .Values.sidecar.repository .Values.sidecar.tag | quote }}',
        '      containers:', '      - name: web', '        image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"', '',
      ].join('\n'),
    },
    // Subcharts with their own values, overridden by the parent, one disabled by a condition,
    // one packaged (.tgz, as `helm dependency build` leaves them); the parent overridden by
    // charts/shop.values.yaml.
    subcharts: {
      'charts/shop/Chart.yaml': 'apiVersion: v2\nname: shop\nversion: 0.1.0\nappVersion: "2.0"\ndependencies:\n- name: db\n  version: 0.1.0\n- name: cache\n  version: 0.1.0\n  condition: cache.enabled\n- name: worker\n  version: 0.1.0\n',
      'charts/shop/values.yaml': `image: {registry: "${h}", repository: team/shop}\ndb:\n  image: {tag: "6"}\ncache:\n  enabled: false\n`,
      'charts/shop/templates/deployment.yaml': deployment('shop', '"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"'),
      'charts/shop/charts/db/Chart.yaml': 'apiVersion: v2\nname: db\nversion: 0.1.0\n',
      'charts/shop/charts/db/values.yaml': `image: {registry: "${h}", repository: team/db, tag: "5"}\n`,
      'charts/shop/charts/db/templates/statefulset.yaml': deployment('db', '"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"').replace('kind: Deployment', 'kind: StatefulSet'),
      'charts/shop/charts/cache/Chart.yaml': 'apiVersion: v2\nname: cache\nversion: 0.1.0\n',
      'charts/shop/charts/cache/values.yaml': `image: "${h}/team/cache:1"\n`,
      'charts/shop/charts/cache/templates/deployment.yaml': deployment('cache', '{{ .Values.image | quote }}'),
      'charts/shop.values.yaml': 'image:\n  tag: "2.1"\n',
    },
    // A library chart at the top (renders nothing) and as the dependency whose define names the image.
    library: {
      'charts/common/Chart.yaml': 'apiVersion: v2\nname: common\nversion: 0.1.0\ntype: library\n',
      'charts/common/templates/_image.tpl': '{{- define "common.image" -}}{{ .registry }}/{{ .repository }}:{{ .tag }}{{- end -}}\n',
      'charts/batch/Chart.yaml': 'apiVersion: v2\nname: batch\nversion: 0.1.0\ndependencies:\n- name: common\n  version: 0.1.0\n',
      'charts/batch/values.yaml': `image: {registry: "${h}", repository: team/batch, tag: "3"}\n`,
      'charts/batch/charts/common/Chart.yaml': 'apiVersion: v2\nname: common\nversion: 0.1.0\ntype: library\n',
      'charts/batch/charts/common/templates/_image.tpl': '{{- define "common.image" -}}{{ .registry }}/{{ .repository }}:{{ .tag }}{{- end -}}\n',
      'charts/batch/templates/job.yaml': deployment('batch', '{{ include "common.image" .Values.image | quote }}').replace('apps/v1', 'batch/v1').replace('kind: Deployment', 'kind: Job'),
    },
    // CRDs in crds/ and a custom resource whose image --image-field names.
    crds: {
      'charts/operator/Chart.yaml': 'apiVersion: v2\nname: operator\nversion: 0.1.0\n',
      'charts/operator/values.yaml': `operator: "${h}/team/operator:1"\nkafka: "${h}/team/kafka:3"\n`,
      'charts/operator/crds/kafka.yaml': 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: kafkas.example.com}\nspec:\n  group: example.com\n  names: {kind: Kafka, plural: kafkas}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n',
      'charts/operator/templates/operator.yaml': deployment('operator', '{{ .Values.operator | quote }}'),
      'charts/operator/templates/kafka.yaml': 'apiVersion: example.com/v1\nkind: Kafka\nmetadata: {name: k}\nspec:\n  kafka:\n    image: {{ .Values.kafka | quote }}\n',
    },
  };
}

/** What `helm template` renders for a chart of the image, read by an independent walk. */
function helmImages(chartPath: string, override: string | undefined): string[] {
  const out = run(helm, ['template', 'release', chartPath, '--include-crds', ...(override ? ['--values', override] : [])]);
  const images = new Set<string>();
  const walk = (node: unknown, key?: string): void => {
    if (typeof node === 'string' && key === 'image') images.add(node);
    else if (Array.isArray(node)) node.forEach((n) => walk(n));
    else if (node !== null && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, k);
  };
  for (const doc of parseAllDocuments(out)) walk(doc.toJS());
  return [...images].sort();
}

/** Builds a ClusterImage from charts/ and returns the images it cached (its annotation). */
async function cachedImages(ctx: string, tag: string, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<{ images: string[]; stderr: string }> {
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY charts charts\n');
  const built = await sealbuildOk(root, ['-t', tag, '--platform', 'linux/amd64', ...extra, ctx], { env });
  const info = JSON.parse((await sealbuildOk(root, ['inspect', '--json', tag], { env })).stdout);
  const annotated = JSON.parse(info.annotations['sealer.image.container.images'] ?? '[]') as { image: string }[];
  return { images: annotated.map((a) => a.image).sort(), stderr: built.stderr };
}

before(async () => {
  tool('skopeo', 'skopeo');
  helm = goTool('helm');
  ({ work, root, registry, h } = await registryScratch());
  // One small image under every name the charts use.
  const seed = await files(join(work, 'seed'), { Kubefile: 'FROM scratch\nCOPY a.txt /\n', 'a.txt': 'chart test image\n' });
  await sealbuildOk(join(work, 'seed-root'), ['-t', 'seed/img:1', '--platform', 'linux/amd64', seed]);
  const layout = join(work, 'seed-layout');
  await sealbuildOk(join(work, 'seed-root'), ['save', '--format', 'oci-dir', '-o', layout, 'seed/img:1']);
  for (const name of ['web:1.0', 'sidecar:2', 'shop:2.1', 'db:6', 'worker:0.1', 'batch:3', 'operator:1', 'kafka:3', 'api:0.3', 'agent:7']) {
    run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:docker.io/seed/img:1`, `docker://${h}/team/${name}`]);
  }
});
after(() => removeRegistryScratch(registry, work));

/** A packaged chart, made by `helm package` as a chart repository serves it. */
async function packageChart(dir: string, content: Record<string, string>, dest: string): Promise<void> {
  await files(dir, content);
  await mkdir(dest, { recursive: true });
  run(helm, ['package', dir, '--destination', dest]);
}

test('helm: the images cached are exactly those helm template renders, chart by chart', async () => {
  const expected: Record<string, string[]> = {
    templated: [`${h}/team/sidecar:2`, `${h}/team/web:1.0`],
    subcharts: [`${h}/team/db:6`, `${h}/team/shop:2.1`, `${h}/team/worker:0.1`],
    library: [`${h}/team/batch:3`],
    crds: [`${h}/team/kafka:3`, `${h}/team/operator:1`],
  };
  for (const [name, content] of Object.entries(charts())) {
    const ctx = await files(join(work, 'ctx', name), content);
    if (name === 'subcharts') {
      // A packaged subchart, as `helm dependency build` vendors it.
      await packageChart(join(work, 'src', 'worker'), { 'Chart.yaml': 'apiVersion: v2\nname: worker\nversion: 0.1.0\nappVersion: "0.1"\n', 'values.yaml': `image: {registry: "${h}", repository: team/worker}\n`, 'templates/d.yaml': deployment('worker', '"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Chart.AppVersion }}"') }, join(ctx, 'charts/shop/charts'));
    }
    const { images } = await cachedImages(ctx, `charts/${name}:1`, withHelm(), name === 'crds' ? ['--image-field', 'Kafka=spec.kafka.image'] : []);
    const rendered = Object.keys(content)
      .filter((p) => /^charts\/[^/]+\/Chart\.yaml$/.test(p) && !/type: library/.test(content[p]!))
      .flatMap((p) => {
        const chart = p.slice(0, -'/Chart.yaml'.length);
        const override = `${chart}.values.yaml`;
        return helmImages(join(ctx, chart), content[override] !== undefined ? join(ctx, override) : undefined);
      });
    assert.deepEqual(images, [...new Set(rendered)].sort(), `${name}: sealbuild against helm template`);
    assert.deepEqual(images, expected[name], `${name}: the images the chart names`);
  }
});

test('helm: a packaged .tgz chart with its charts/<chart>.values.yaml override', async () => {
  const ctx = join(work, 'ctx', 'packaged');
  const content = { 'Chart.yaml': 'apiVersion: v2\nname: api\nversion: 0.3.0\nappVersion: "0.2"\n', 'values.yaml': `image: {registry: "${h}", repository: team/api}\n`, 'templates/d.yaml': deployment('api', '"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"') };
  await packageChart(join(work, 'src', 'api'), content, join(ctx, 'charts'));
  await files(ctx, { 'charts/api.values.yaml': 'image: {tag: "0.3"}\n' });
  const { images } = await cachedImages(ctx, 'charts/packaged:1', withHelm());
  assert.deepEqual(images, helmImages(join(ctx, 'charts/api-0.3.0.tgz'), join(ctx, 'charts/api.values.yaml')));
  assert.deepEqual(images, [`${h}/team/api:0.3`]);
});

test('helm: a chart that needs a value fails in one line naming it and where to set it; the override fixes it', async () => {
  const ctx = await files(join(work, 'ctx', 'required'), {
    'charts/agent/Chart.yaml': 'apiVersion: v2\nname: agent\nversion: 0.1.0\n',
    'charts/agent/values.yaml': `image: {registry: "${h}", repository: team/agent}\n`,
    'charts/agent/templates/ds.yaml': deployment('agent', '"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ required "image.tag is required: the agent version" .Values.image.tag }}"').replace('kind: Deployment', 'kind: DaemonSet'),
    Kubefile: 'FROM scratch\nCOPY charts charts\n',
  });
  const failed = await sealbuild(root, ['--progress', 'quiet', '-t', 'charts/required:1', '--platform', 'linux/amd64', ctx], { env: withHelm() });
  assert.equal(failed.code, 1, failed.stderr);
  const lines = failed.stderr.trim().split('\n');
  assert.equal(lines.length, 1, failed.stderr);
  assert.match(lines[0]!, /^Error: charts\/agent\/templates\/ds\.yaml:9:\d+: chart agent needs a value: image\.tag is required: the agent version \(hint: set it in charts\/agent\.values\.yaml/);
  await writeFile(join(ctx, 'charts/agent.values.yaml'), 'image: {tag: "7"}\n');
  const { images } = await cachedImages(ctx, 'charts/required:1', withHelm());
  assert.deepEqual(images, [`${h}/team/agent:7`]);
});

test('helm: a dependency missing from charts/ is not downloaded: the message says to vendor it', async () => {
  const ctx = await files(join(work, 'ctx', 'missing-dep'), {
    'charts/app/Chart.yaml': 'apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: redis\n  version: 1.0.0\n  repository: https://charts.example.com\n',
    'charts/app/templates/d.yaml': deployment('app', `${h}/team/web:1.0`),
    Kubefile: 'FROM scratch\nCOPY charts charts\n',
  });
  const failed = await sealbuild(root, ['--progress', 'quiet', '-t', 'charts/missing:1', '--platform', 'linux/amd64', ctx], { env: withHelm() });
  assert.equal(failed.code, 1, failed.stderr);
  assert.equal(failed.stderr.trim().split('\n').length, 1, failed.stderr);
  assert.match(failed.stderr, /^Error: charts\/app: .*missing in charts\/ directory: redis.*helm dependency build/);
});

test('without helm: values files are read (packaged charts too) and the warning names the template lines it missed', async () => {
  const ctx = await files(join(work, 'ctx', 'fallback'), charts()['templated']!);
  await packageChart(join(work, 'src', 'api2'), { 'Chart.yaml': 'apiVersion: v2\nname: api\nversion: 0.3.0\nappVersion: "0.3"\n', 'values.yaml': `image: {registry: "${h}", repository: team/api}\n`, 'templates/d.yaml': deployment('api', '{{ .Values.image.repository }}') }, join(ctx, 'charts'));
  const { images, stderr } = await cachedImages(ctx, 'charts/fallback:1', withoutHelm());
  // web:1.0 from the values map and the appVersion; the sidecar is built by printf in a template: missed, and said so.
  assert.deepEqual(images, [`${h}/team/api:0.3`, `${h}/team/web:1.0`]);
  assert.match(stderr, /WARNING: helm is not installed: images of charts\/web are read from its values files only; images built by templates were not read: charts\/web\/templates\/deployment\.yaml:9, charts\/web\/templates\/deployment\.yaml:12 \(install helm/);
  assert.match(stderr, /WARNING: helm is not installed: images of charts\/api-0\.3\.0\.tgz are read from its values files only; images built by templates were not read: charts\/api-0\.3\.0\.tgz:templates\/d\.yaml:9/);
});

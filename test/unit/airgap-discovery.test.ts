import assert from 'node:assert/strict';
import { test } from 'node:test';
import { discoverImages } from '../../src/airgap/cache-images.js';
import { parseImageField, type FoundImage } from '../../src/airgap/discover.js';

/*
 * Which image references the airgap scan finds in an image's documents (airgap/
 * cache-images.ts discoverImages), from documents held in memory, with a reporter that keeps
 * the warnings and, for charts, no helm: the values-file fallback.
 */

const deployment = `apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers: [{name: init, image: busybox:1.36}]
      containers:
        - name: web
          image: " nginx:1.27 "
        - name: no-image
`;

const cronJob = `kind: CronJob
spec: {jobTemplate: {spec: {template: {spec: {containers: [{image: "alpine:3.20"}]}}}}}
`;

const list = `kind: List
items:
  - {kind: Pod, spec: {containers: [{image: "redis:7"}]}}
  - {kind: ConfigMap, data: {image: "not-an-image:1"}}
`;

const kafka = `kind: Kafka
spec: {kafka: {image: "quay.io/strimzi/kafka:0.45"}, zookeeper: {image: "ignored:1"}}
`;

const chart = {
  'charts/app/Chart.yaml': 'apiVersion: v2\nname: app\nappVersion: "2.1"\n',
  'charts/app/values.yaml': 'image:\n  repository: docker.io/me/app\nsidecar:\n  image: docker.io/me/sidecar:1\n',
  'charts/app/templates/deploy.yaml': 'kind: Pod\nspec:\n  containers:\n    - image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n',
};

const cases: { name: string; files: Record<string, string>; fields?: string[]; found: FoundImage[]; warning?: RegExp }[] = [
  { name: 'nothing in no documents', files: {}, found: [] },
  { name: 'app then init containers of a workload, trimmed; a container without image skipped', files: { 'manifests/web.yaml': deployment }, found: [{ image: 'nginx:1.27', source: 'manifests/web.yaml' }, { image: 'busybox:1.36', source: 'manifests/web.yaml' }] },
  { name: "a CronJob's nested pod spec", files: { 'manifests/job.yml': cronJob }, found: [{ image: 'alpine:3.20', source: 'manifests/job.yml' }] },
  { name: 'the items of a List, only where a kind keeps images', files: { 'manifests/list.yaml': list }, found: [{ image: 'redis:7', source: 'manifests/list.yaml' }] },
  { name: 'a custom resource only with --image-field', files: { 'manifests/kafka.yaml': kafka }, found: [] },
  { name: 'a custom resource by --image-field', files: { 'manifests/kafka.yaml': kafka }, fields: ['Kafka=spec.kafka.image'], found: [{ image: 'quay.io/strimzi/kafka:0.45', source: 'manifests/kafka.yaml' }] },
  {
    name: 'several documents in one file, files in path order',
    files: { 'manifests/b.yaml': `${cronJob}---\n${list}`, 'manifests/a.yaml': deployment },
    found: [
      { image: 'nginx:1.27', source: 'manifests/a.yaml' },
      { image: 'busybox:1.36', source: 'manifests/a.yaml' },
      { image: 'alpine:3.20', source: 'manifests/b.yaml' },
      { image: 'redis:7', source: 'manifests/b.yaml' },
    ],
  },
  {
    name: 'an image list: one per line, comments and blank lines skipped, the line kept',
    files: { 'manifests/imageList': '# images\nnginx:1.27\n\n  redis:7  # cache\n' },
    found: [{ image: 'nginx:1.27', source: 'manifests/imageList:2', listed: true }, { image: 'redis:7', source: 'manifests/imageList:4', listed: true }],
  },
  {
    name: "an app's documents name the app",
    files: { 'application/apps/shop/imageList': 'shop:1\n', 'application/apps/shop/deploy.yaml': cronJob },
    found: [{ image: 'alpine:3.20', source: 'application/apps/shop/deploy.yaml', appName: 'shop' }, { image: 'shop:1', source: 'application/apps/shop/imageList:1', listed: true, appName: 'shop' }],
  },
  { name: 'values files and other files are not manifests', files: { 'manifests/x.values.yaml': deployment, 'manifests/readme.txt': 'image: nginx:1\n' }, found: [] },
  {
    name: "without helm a chart's values are read, its templates are not, and it says so",
    files: chart,
    found: [{ image: 'docker.io/me/app:2.1', source: 'charts/app/values.yaml' }, { image: 'docker.io/me/sidecar:1', source: 'charts/app/values.yaml' }],
    warning: /helm is not installed: images of charts\/app are read from its values files only; images built by templates were not read: charts\/app\/templates\/deploy.yaml:4/,
  },
];

for (const c of cases) {
  test(`airgap discovery: ${c.name}`, async () => {
    const warnings: string[] = [];
    const files = new Map(Object.entries(c.files).map(([path, text]) => [path, Buffer.from(text)]));
    const fields = (c.fields ?? []).map(parseImageField);
    const found = await discoverImages(files, fields, { warn: (m) => warnings.push(m) }, () => undefined);
    assert.deepEqual(found, c.found);
    if (c.warning) assert.match(warnings.join('\n'), c.warning);
    else assert.deepEqual(warnings, []);
  });
}

test('airgap discovery: a document that is not YAML is refused with its file and line', async () => {
  const files = new Map([['manifests/bad.yaml', Buffer.from('kind: Pod\nspec: [unclosed\n')]]);
  await assert.rejects(discoverImages(files, [], { warn: assert.fail }, () => undefined), /manifests\/bad\.yaml:\d+: not valid YAML/);
});

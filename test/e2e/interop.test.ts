/**
 * Interop with sealer and sealos (#14): the image config the Dockerfile set writes, checked
 * against buildah (what sealos builds with) building the same file, and read back by skopeo.
 */
import assert from 'node:assert/strict';
import { readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, run, sealbuild, sealbuildOk, tempDir, tool, writeFiles } from '../helpers/cli.js';
import { GO_TOOLS_BIN, goTool } from '../helpers/go-tools.js';

let work: string;
let root: string;

before(async () => {
  tool('skopeo', 'skopeo');
  tool('buildah', 'buildah');
  work = await tempDir('sealbuild-interop-');
  root = join(work, 'root');
});
after(async () => {
  await removeDir(work);
});

function context(name: string, files: Record<string, string>): Promise<string> {
  return writeFiles(join(work, name), files);
}

interface Inspected {
  config: { config: Record<string, unknown> & { Env?: string[]; Labels?: Record<string, string> } };
  annotations: Record<string, string>;
}

async function inspect(ref: string): Promise<Inspected> {
  return JSON.parse((await sealbuildOk(root, ['inspect', '--json', ref])).stdout) as Inspected;
}

/** The config skopeo reads from the store (an OCI layout). */
function skopeoConfig(ref: string): { config: Record<string, unknown> } {
  return JSON.parse(run('skopeo', ['inspect', '--config', `oci:${join(root, 'oci')}:docker.io/${ref}`])) as { config: Record<string, unknown> };
}

/** buildah's config for the same Dockerfile: `oci` gives the OCI fields, `docker` docker's too. */
function buildahConfig(dir: string, file: string, format: 'oci' | 'docker'): Record<string, unknown> {
  const storage = ['--root', join(work, 'buildah', 'storage'), '--runroot', join(work, 'buildah', 'run'), '--storage-driver', 'vfs'];
  const tag = `localhost/interop-${format}-${file.toLowerCase()}`;
  run('buildah', [...storage, 'build', '--isolation', 'chroot', '--format', format, '-f', join(dir, file), '-t', tag, dir]);
  const info = JSON.parse(run('buildah', [...storage, 'inspect', '--type', 'image', tag])) as { OCIv1: { config: Record<string, unknown> }; Docker: { config: Record<string, unknown> } };
  return format === 'oci' ? info.OCIv1.config : info.Docker.config;
}

function pick(config: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => config[k] !== undefined && config[k] !== null).map((k) => [k, config[k]]));
}

const OCI_FIELDS = ['User', 'ExposedPorts', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'StopSignal'];
const DOCKER_FIELDS = ['Healthcheck', 'OnBuild', 'Shell'];

const SETTINGS = `FROM scratch
ARG PORT=9000
ENV DATA=/var/lib/app
SHELL ["/bin/bash", "-ec"]
CMD kubectl apply -f manifests/ && echo "\${DATA}"
ENTRYPOINT ["/bin/entry", "$DATA"]
USER 65532:65532
WORKDIR /opt
WORKDIR app
EXPOSE 6443 8472/udp $PORT 30000-30002
VOLUME $DATA ["/not-json"]
VOLUME ["/logs", "/cache"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --retries=3 CMD ["/bin/check", "--ready"]
ONBUILD COPY manifests/ manifests/
`;

test('USER, ENTRYPOINT, CMD, WORKDIR, EXPOSE, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD: the config buildah writes (#14 points 1, 2)', async () => {
  const dir = await context('settings', { Kubefile: SETTINGS, Dockerfile: SETTINGS, 'manifests/a.yaml': 'kind: List\n' });
  await sealbuildOk(root, ['-t', 'test/settings:v1', dir]);
  const ours = (await inspect('test/settings:v1')).config.config;
  assert.deepEqual(pick(ours, OCI_FIELDS), {
    User: '65532:65532',
    ExposedPorts: { '6443/tcp': {}, '8472/udp': {}, '9000/tcp': {}, '30000-30002/tcp': {} },
    Entrypoint: ['/bin/entry', '$DATA'],
    Cmd: ['/bin/sh', '-c', 'kubectl apply -f manifests/ && echo "${DATA}"'],
    Volumes: { '/var/lib/app': {}, '[/not-json]': {}, '/logs': {}, '/cache': {} },
    WorkingDir: '/opt/app',
    StopSignal: 'SIGINT',
  });
  assert.deepEqual(pick(ours, DOCKER_FIELDS), {
    Healthcheck: { Test: ['CMD', '/bin/check', '--ready'], Interval: 30e9, Timeout: 5e9, StartPeriod: 60e9, Retries: 3 },
    OnBuild: ['COPY manifests/ manifests/'],
    Shell: ['/bin/bash', '-ec'],
  });
  // skopeo decodes the OCI fields only (docker's three are not in the OCI spec).
  assert.deepEqual(pick(skopeoConfig('test/settings:v1').config, [...OCI_FIELDS, 'Env']), pick(ours, [...OCI_FIELDS, 'Env']), 'skopeo reads the same config');
  assert.deepEqual(pick(ours, OCI_FIELDS), pick(buildahConfig(dir, 'Dockerfile', 'oci'), OCI_FIELDS), 'buildah (OCI format) writes the same fields');
  assert.deepEqual(pick(ours, DOCKER_FIELDS), pick(buildahConfig(dir, 'Dockerfile', 'docker'), DOCKER_FIELDS), 'buildah (docker format) writes the same docker fields');
  // sealer's deprecated CMD stays a raw launch command in its annotation.
  const extension = JSON.parse((await inspect('test/settings:v1')).annotations['sealer.image.extension']!) as { launch: { cmds: string[] } };
  assert.deepEqual(extension.launch.cmds, ['kubectl apply -f manifests/ && echo "${DATA}"']);
});

const CHILD = `FROM test/settings:v1
ENTRYPOINT /bin/start --now
COPY a.txt .
`;

test('a child inherits the config, runs ONBUILD triggers, and ENTRYPOINT drops an inherited CMD', async () => {
  const dir = await context('child', { Kubefile: CHILD, 'a.txt': 'a', 'manifests/b.yaml': 'kind: List\n' });
  const built = await sealbuildOk(root, ['-t', 'test/child:v1', dir]);
  assert.match(built.stderr, /ONBUILD COPY manifests\/ manifests\//);
  const config = (await inspect('test/child:v1')).config.config;
  assert.deepEqual(config.Entrypoint, ['/bin/sh', '-c', '/bin/start --now']);
  assert.equal(config.Cmd, undefined, 'CMD not set in this stage is dropped by ENTRYPOINT');
  assert.equal(config.OnBuild, undefined, 'triggers are not inherited');
  assert.equal(config.User, '65532:65532');
  assert.equal(config.WorkingDir, '/opt/app');
  // The trigger and the COPY ran with the inherited WORKDIR: relative destinations land under it.
  const out = join(work, 'child-rootfs');
  await sealbuildOk(root, ['export', 'test/child:v1', '-o', out]);
  assert.equal(await readFile(join(out, 'opt/app/a.txt'), 'utf8'), 'a');
  assert.equal(await readFile(join(out, 'opt/app/manifests/b.yaml'), 'utf8'), 'kind: List\n');
});

interface Extension {
  type: string;
  env?: Record<string, string>;
  launch: { cmds?: string[] };
}

async function extension(ref: string): Promise<Extension> {
  return JSON.parse((await inspect(ref)).annotations['sealer.image.extension']!) as Extension;
}

test('ENV reaches sealer.image.extension env, expanded; --type sets its type (#14 points 4, 5)', async () => {
  const dir = await context('env', { Kubefile: 'FROM scratch\nARG DOMAIN=sea.hub\nENV REGISTRY_DOMAIN=${DOMAIN} REGISTRY_PORT=5000\nENV POD_CIDR="100.64.0.0/10"\nCMDS ["kubectl get nodes"]\n' });
  await sealbuildOk(root, ['-t', 'test/env:v1', dir]);
  const kube = await extension('test/env:v1');
  assert.equal(kube.type, 'kube-installer', "sealer's default type");
  assert.deepEqual(kube.env, { REGISTRY_DOMAIN: 'sea.hub', REGISTRY_PORT: '5000', POD_CIDR: '100.64.0.0/10' });
  await sealbuildOk(root, ['-t', 'test/env-app:v1', '--type', 'app-installer', dir]);
  assert.equal((await extension('test/env-app:v1')).type, 'app-installer');
  // A child's extension has its own ENV lines only, as sealer writes it; the config inherits all.
  const child = await context('env-child', { Kubefile: 'FROM test/env:v1\nENV APP=web\n' });
  await sealbuildOk(root, ['-t', 'test/env-child:v1', child]);
  assert.deepEqual((await extension('test/env-child:v1')).env, { APP: 'web' });
  assert.ok((await inspect('test/env-child:v1')).config.config.Env!.toString().includes('REGISTRY_DOMAIN=sea.hub'));
  const bad = await sealbuild(root, ['-t', 'test/env-bad:v1', '--type', 'cluster', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^Error: --type: unknown image type "cluster" \(hint: use kube-installer or app-installer/m);
});

test('no -f: Kubefile, then Sealfile, Dockerfile, Containerfile; the build says which (#14 point 8)', async () => {
  const sealfile = await context('sealfile', { Sealfile: 'FROM scratch\nLABEL from=sealfile\n', Containerfile: 'FROM scratch\nLABEL from=containerfile\n' });
  const built = await sealbuildOk(root, ['-t', 'test/sealfile:v1', sealfile]);
  assert.match(built.stderr, /using .*sealfile\/Sealfile \(also found Containerfile, not used; pass -f to choose\)/);
  assert.equal((await inspect('test/sealfile:v1')).config.config.Labels!['from' as never], 'sealfile');
  const docker = await context('dockerfile', { Dockerfile: 'FROM scratch\nLABEL from=dockerfile\n' });
  assert.match((await sealbuildOk(root, ['-t', 'test/dockerfile:v1', docker])).stderr, /using .*dockerfile\/Dockerfile\n/);
  // The usual lone Kubefile is not announced.
  const kubefile = await context('kubefile-only', { Kubefile: 'FROM scratch\nLABEL from=kubefile\n' });
  assert.doesNotMatch((await sealbuildOk(root, ['-t', 'test/kubefile-only:v1', kubefile])).stderr, /using /);
});

interface App {
  name: string;
  type?: string;
  files?: string[];
}

test('APP with a directory: its contents land in application/apps/NAME/, type and files as sealer records them (#14 point 3)', async () => {
  const dir = await context('app-dirs', {
    Kubefile: [
      'FROM scratch',
      'APP web local://manifests',
      'APP setup local://scripts/ local://more.sh',
      'APP chart local://charts/redis',
      'APP mixed local://mixed',
      'APPCMDS mixed ["bash run.sh"]',
      '',
    ].join('\n'),
    'manifests/deploy.yaml': 'kind: Deployment\n',
    'manifests/crds/crd.YML': 'kind: CustomResourceDefinition\n',
    'scripts/a.sh': 'echo a\n',
    'scripts/sub/b.sh': 'echo b\n',
    'more.sh': 'echo more\n',
    'charts/redis/Chart.yaml': 'name: redis\n',
    'charts/redis/values.yaml': '{}\n',
    'charts/redis/templates/svc.yaml': 'kind: Service\n',
    'mixed/run.sh': 'kubectl apply -f x.yaml\n',
    'mixed/x.yaml': 'kind: List\n',
  });
  await sealbuildOk(root, ['-t', 'test/app-dirs:v1', dir]);
  const apps = Object.fromEntries(((await extension('test/app-dirs:v1')) as unknown as { applications: App[] }).applications.map((a) => [a.name, a]));
  assert.deepEqual(apps.web, { name: 'web', type: 'kube', files: ['crds/crd.YML', 'deploy.yaml'], version: 'v1' });
  // shell: only the first source's files, as sealer's getApplicationFiles returns.
  assert.deepEqual(apps.setup, { name: 'setup', type: 'shell', files: ['a.sh', 'sub/b.sh'], version: 'v1' });
  assert.deepEqual(apps.chart, { name: 'chart', type: 'helm', files: ['chart'], version: 'v1' });
  assert.deepEqual(apps.mixed, { name: 'mixed', version: 'v1', cmds: ['bash run.sh'] }, '.sh and .yaml together: no type');
  const out = join(work, 'app-dirs-rootfs');
  await sealbuildOk(root, ['export', 'test/app-dirs:v1', '-o', out]);
  for (const path of ['web/deploy.yaml', 'web/crds/crd.YML', 'setup/a.sh', 'setup/sub/b.sh', 'setup/more.sh', 'chart/Chart.yaml', 'chart/templates/svc.yaml', 'mixed/run.sh']) {
    await readFile(join(out, 'application/apps', path));
  }
  const noCmds = await context('app-mixed', { Kubefile: 'FROM scratch\nAPP mixed local://mixed\n', 'mixed/run.sh': 'x\n', 'mixed/x.yaml': 'y\n' });
  const failed = await sealbuild(root, ['-t', 'test/app-mixed:v1', noCmds]);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /APP mixed: cannot tell how to launch it/);
});

test('COPY ../x and COPY /x read CONTEXT/x with a warning, as BuildKit does; symlinks out stay refused (#14 point 9)', async () => {
  const dir = await context('dotdot', { Kubefile: 'FROM scratch\nCOPY ../x.txt a/\nCOPY /sub/../x.txt b/\nCOPY ../../ all/\n', 'x.txt': 'x' });
  const built = await sealbuildOk(root, ['-t', 'test/dotdot:v1', dir]);
  assert.match(built.stderr, /Kubefile:2:1: COPY source "\.\.\/x\.txt" is read as "x\.txt" in the build context/);
  assert.match(built.stderr, /Kubefile:3:1: COPY source "\/sub\/\.\.\/x\.txt" is read as "x\.txt"/);
  assert.match(built.stderr, /Kubefile:4:1: COPY source "\.\.\/\.\.\/" is read as "\." /);
  const out = join(work, 'dotdot-rootfs');
  await sealbuildOk(root, ['export', 'test/dotdot:v1', '-o', out]);
  assert.equal(await readFile(join(out, 'a/x.txt'), 'utf8'), 'x');
  assert.equal(await readFile(join(out, 'b/x.txt'), 'utf8'), 'x');
  assert.equal(await readFile(join(out, 'all/x.txt'), 'utf8'), 'x');
  const linked = await context('dotdot-link', { Kubefile: 'FROM scratch\nCOPY ../out/hostname /\n' });
  await symlink('/etc', join(linked, 'out'));
  const refused = await sealbuild(root, ['-t', 'test/dotdot-link:v1', linked]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /COPY source "\.\.\/out\/hostname" resolves outside the build context/);
});

test('build --dry-run prints the plan with words expanded and sources checked, writes nothing, and fails on errors (#14 point 11)', async () => {
  const dir = await context('dry', {
    Kubefile: 'ARG BASE=scratch\nFROM $BASE\nARG VERSION=v1.34.2\nENV TAG=${VERSION#v}\nCOPY bin/${TARGETARCH}/ bin/\nLABEL version=$TAG\nAPP web local://manifests\nCMDS ["kubectl get nodes"]\n',
    'bin/amd64/tool': 'x', 'bin/arm64/tool': 'y', 'manifests/a.yaml': 'kind: List\n', 'images.txt': 'docker.io/library/nginx:1.27\n',
  });
  const dryRoot = join(work, 'dry-root');
  const plan = await sealbuildOk(dryRoot, ['build', '--dry-run', '--platform', 'linux/amd64,linux/arm64', '--image-list', join(dir, 'images.txt'), dir]);
  assert.equal(plan.stdout, [
    'platform linux/amd64',
    '  stage 0: FROM scratch',
    '    ARG VERSION=v1.34.2',
    '    ENV TAG=1.34.2',
    '    COPY bin/amd64/ -> bin/',
    '    LABEL version=1.34.2',
    '    APP web local://manifests -> application/apps/web/',
    '    CMDS ["kubectl get nodes"]',
    '  images from manifests and charts: none',
    'platform linux/arm64',
    '  stage 0: FROM scratch',
    '    ARG VERSION=v1.34.2',
    '    ENV TAG=1.34.2',
    '    COPY bin/arm64/ -> bin/',
    '    LABEL version=1.34.2',
    '    APP web local://manifests -> application/apps/web/',
    '    CMDS ["kubectl get nodes"]',
    '  images from manifests and charts: none',
    'images from --image-list: docker.io/library/nginx:1.27',
    '',
  ].join('\n'));
  await assert.rejects(readFile(join(dryRoot, 'index.json')), 'no store is written');
  const missing = await context('dry-missing', { Kubefile: 'FROM scratch\nARG REGISTRY\nCOPY bin/${TARGETARCH}/ bin/\nLABEL registry="${REGISTRY:?give --build-arg REGISTRY}"\n', 'bin/amd64/tool': 'x' });
  const noArm = await sealbuild(dryRoot, ['build', '--dry-run', '--platform', 'linux/arm64', '--build-arg', 'REGISTRY=r', missing]);
  assert.equal(noArm.code, 1);
  assert.match(noArm.stderr, /Kubefile:3:1: COPY source "bin\/arm64\/" not found in the build context/);
  const noArg = await sealbuild(dryRoot, ['build', '--dry-run', '--platform', 'linux/amd64', missing]);
  assert.equal(noArg.code, 1);
  assert.match(noArg.stderr, /Kubefile:4:1: REGISTRY: give --build-arg REGISTRY/);
});

test('build --dry-run lists the images a build would cache from manifests, image lists, APP files and charts rendered by helm, per platform (#14 point 11)', async () => {
  goTool('helm');
  const pod = (image: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: ${image}\n`;
  const dir = await context('dry-images', {
    Kubefile: 'FROM scratch\nCOPY manifests manifests\nCOPY charts/ charts/\nCOPY extra.yaml manifests/more/\nAPP web local://app\nCOPY notes.yaml etc/\n',
    'manifests/agent.yaml': pod('registry.example/tools/agent:1.0-${ARCH}'),
    'manifests/imageList': 'registry.example/pause:3.9\nregistry.example/tools/agent:1.0-${ARCH}\n',
    'extra.yaml': pod('registry.example/jobs/cleanup:1'),
    'app/api.yaml': pod('registry.example/app/api:v2'),
    // Outside manifests/, charts/ and application/apps/: the build does not scan it either.
    'notes.yaml': pod('registry.example/not/scanned:1'),
    'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: "2.5"\n',
    'charts/web/values.yaml': 'image:\n  repository: registry.example/team/web\n',
    // The tag exists only once helm renders the template.
    'charts/web/templates/pod.yaml': pod('"{{ .Values.image.repository }}:{{ .Chart.AppVersion }}"'),
    'ignored.txt': 'registry.example/pause:3.9\n',
  });
  const dryRoot = join(work, 'dry-images-root');
  const env = { PATH: `${GO_TOOLS_BIN}:${process.env.PATH}` };
  const plan = await sealbuildOk(dryRoot, ['build', '--dry-run', '--platform', 'linux/amd64,linux/arm64', '--ignored-image-list', join(dir, 'ignored.txt'), dir], { env });
  const images = (arch: string) => [
    '  image registry.example/app/api:v2 (application/apps/web/api.yaml)',
    `  image registry.example/tools/agent:1.0-${arch} (manifests/agent.yaml)`,
    '  image registry.example/jobs/cleanup:1 (manifests/more/extra.yaml)',
    '  image registry.example/team/web:2.5 (charts/web (helm template))',
  ];
  const lines = plan.stdout.split('\n');
  const arm = lines.indexOf('platform linux/arm64');
  assert.deepEqual(lines.slice(0, arm).filter((l) => l.startsWith('  image')), images('amd64'), plan.stdout);
  assert.deepEqual(lines.slice(arm).filter((l) => l.startsWith('  image')), images('arm64'), plan.stdout);
  await assert.rejects(readFile(join(dryRoot, 'index.json')), 'no store is written');

  // lite caches nothing, so it lists nothing; a reference that does not parse fails the dry run.
  const lite = await sealbuildOk(dryRoot, ['build', '--dry-run', '--build-mode', 'lite', dir], { env });
  assert.doesNotMatch(lite.stdout, /^ {2}image/m);
  const bad = await context('dry-bad-image', { Kubefile: 'FROM scratch\nCOPY manifests manifests\n', 'manifests/imageList': 'registry.example/UPPER:1\n' });
  const failed = await sealbuild(dryRoot, ['build', '--dry-run', bad], { env });
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /manifests\/imageList:1: /);
});

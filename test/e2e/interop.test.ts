/**
 * Interop with sealer and sealos (#14): the image config the Dockerfile set writes, checked
 * against buildah (what sealos builds with) building the same file, and read back by skopeo.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, run, sealbuildOk, tempDir, tool } from '../helpers/cli.js';

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

async function context(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

interface Inspected {
  config: { config: Record<string, unknown> };
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

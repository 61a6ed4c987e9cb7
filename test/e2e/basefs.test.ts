import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { chmod, cp, lstat, mkdir, mkdtemp, readFile, readlink, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { REPO, removeDir, run, sealbuild, sealbuildOk, spawnCollect, tempDir, tool } from '../helpers/cli.js';
import { sharedFixture } from '../helpers/fixtures.js';
import { basefsReleases, elfStub, serveReleases, type ReleaseServer } from '../helpers/releases.js';
import { parseElfHeader } from '../../src/runtime/elf.js';

/*
 * The three basefs contexts, built for amd64 and arm64 from a local server standing in for
 * the upstream release URLs (tiny ELF stubs of the right machine types, their checksums given
 * as --build-arg), then exported, verified and installed by their own init.sh into a
 * temporary root with recording stubs for systemctl, k3s, k0s, kubeadm and the rest.
 */

const RUNTIMES = ['k3s', 'k0s', 'kubernetes'] as const;
type Runtime = (typeof RUNTIMES)[number];
const BINARIES: Record<Runtime, string[]> = { k3s: ['k3s'], k0s: ['k0s'], kubernetes: ['kubeadm', 'kubelet', 'kubectl', 'runc'] };
const VERSIONS: Record<Runtime, { version: string; kubeVersion: string }> = {
  k3s: { version: 'v1.34.2+k3s1', kubeVersion: 'v1.34.2' },
  k0s: { version: 'v1.34.3+k0s.0', kubeVersion: 'v1.34.3' },
  kubernetes: { version: 'v1.30.4', kubeVersion: 'v1.30.4' },
};

let work: string;
let root: string;
let registryArchive: Buffer;
const servers = new Map<Runtime, ReleaseServer>();
const built = new Map<Runtime, string>();

/**
 * A real, loadable registry image archive made offline: a two-platform image built and saved
 * by sealbuild itself (OCI layout tar, gzip). It stands in for distribution's registry image,
 * which tests cannot download.
 */
async function makeRegistryArchive(): Promise<Buffer> {
  const ctx = join(work, 'registry-image');
  for (const arch of ['amd64', 'arm64']) {
    await mkdir(join(ctx, 'bin', arch), { recursive: true });
    await writeFile(join(ctx, 'bin', arch, 'registry'), elfStub(arch, 'registry'), { mode: 0o755 });
  }
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY bin/${ARCH}/registry /bin/registry\n');
  const store = join(work, 'registry-image-root');
  await sealbuildOk(store, ['-t', 'library/registry:2.8.3', '--platform', 'linux/amd64,linux/arm64', ctx]);
  await sealbuildOk(store, ['save', '-o', join(work, 'registry.tar'), 'library/registry:2.8.3']);
  return gzipSync(await readFile(join(work, 'registry.tar')));
}

/** A copy of basefs/<runtime> with the registry archive in place, built for both arches. */
async function buildBasefs(runtime: Runtime): Promise<string> {
  const ctx = join(work, `ctx-${runtime}`);
  await cp(join(REPO, 'basefs', runtime), ctx, { recursive: true });
  await mkdir(join(ctx, 'images'), { recursive: true });
  await writeFile(join(ctx, 'images', 'registry.tar.gz'), registryArchive);
  const { files, buildArgs } = await basefsReleases(runtime);
  const server = await serveReleases(files);
  servers.set(runtime, server);
  const tag = `test/${runtime}:base`;
  await sealbuildOk(root, ['-t', tag, '--build-mode', 'lite', '--platform', 'linux/amd64,linux/arm64', ...buildArgs(server.url), ctx]);
  assert.equal(new Set(server.requests).size, files.size, `every release file was downloaded: ${server.requests.join(', ')}`);
  return tag;
}

before(async () => {
  tool('skopeo', 'skopeo');
  tool('shellcheck', 'shellcheck');
  work = await tempDir();
  root = join(work, 'root');
  registryArchive = await makeRegistryArchive();
});
after(async () => {
  for (const server of servers.values()) await server.close();
  await removeDir(work);
});

for (const runtime of RUNTIMES) {
  test(`basefs/${runtime} builds for amd64 and arm64 into one index; each export has its own binaries and Metadata; verify passes`, async () => {
    const tag = await buildBasefs(runtime);
    built.set(runtime, tag);
    const raw = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${join(root, 'oci')}:docker.io/${tag}`]));
    assert.equal(raw.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(raw.manifests.map((m: { platform: { os: string; architecture: string } }) => `${m.platform.os}/${m.platform.architecture}`), ['linux/amd64', 'linux/arm64']);

    for (const arch of ['amd64', 'arm64']) {
      const dir = join(work, `export-${runtime}-${arch}`);
      await sealbuildOk(root, ['export', tag, '--platform', `linux/${arch}`, '-o', dir]);
      const metadata = JSON.parse(await readFile(join(dir, 'Metadata'), 'utf8'));
      assert.deepEqual(metadata, {
        ...VERSIONS[runtime], arch, variant: '', clusterRuntime: runtime, containerRuntime: 'containerd', registry: { domain: 'sea.hub', port: 5000 },
      });
      for (const bin of BINARIES[runtime]) {
        const elf = parseElfHeader(await readFile(join(dir, 'bin', bin)));
        assert.equal(elf?.machine, arch === 'amd64' ? 62 : 183, `bin/${bin} is an ${arch} binary`);
        assert.equal((await lstat(join(dir, 'bin', bin))).mode & 0o777, 0o755);
      }
      for (const script of ['init.sh', 'upgrade.sh', 'delete.sh', 'clean.sh', 'init-registry.sh']) assert.equal((await lstat(join(dir, 'scripts', script))).mode & 0o111, 0o111, `${script} is executable`);
      assert.deepEqual(await readFile(join(dir, 'images', 'registry.tar.gz')), registryArchive);
    }

    const labels = JSON.parse((await sealbuildOk(root, ['inspect', '--json', '--platform', 'linux/arm64', tag])).stdout).labels;
    assert.equal(labels['cluster.alpha.sealer.io/cluster-runtime-type'], runtime);
    assert.equal(labels['sealos.io.distribution'], runtime);
    assert.equal(labels['cluster.alpha.sealer.io/cluster-runtime-version'], VERSIONS[runtime].version);
    assert.equal(labels['app.alpha.sealer.io/supported-kube-version'], VERSIONS[runtime].kubeVersion);
    assert.equal(labels['sealos.io.type'], 'rootfs');

    const verified = await sealbuildOk(root, ['verify', tag]);
    assert.match(verified.stdout, /verified: linux\/amd64, linux\/arm64/);
    assert.doesNotMatch(verified.stdout, /FAIL/);
  });
}

test('a checksum that does not match the download fails the build and names the file', async () => {
  const ctx = join(work, 'ctx-k0s');
  const { buildArgs } = await basefsReleases('k0s');
  const server = servers.get('k0s')!;
  const args = buildArgs(server.url).map((a) => (a.startsWith('K0S_SHA256_arm64=') ? `K0S_SHA256_arm64=sha256:${'0'.repeat(64)}` : a));
  const result = await sealbuild(root, ['-t', 'test/k0s:bad', '--build-mode', 'lite', '--platform', 'linux/amd64,linux/arm64', ...args, ctx]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /Error: .*Kubefile:\d+:\d+: ADD http:\/\/127\.0\.0\.1:\d+\/k0s\/v1\.34\.3\+k0s\.0\/k0s-v1\.34\.3\+k0s\.0-arm64: checksum mismatch: expected sha256:0{64}/);
  const images = JSON.parse((await sealbuildOk(root, ['images', '--json'])).stdout) as { name: string }[];
  assert.ok(!images.some((i) => i.name.endsWith('test/k0s:bad')));
});

test('every basefs script passes shellcheck; common.sh and init-registry.sh are the same everywhere', async () => {
  const scripts: string[] = [];
  for (const r of RUNTIMES) for (const s of await readdir(join(REPO, 'basefs', r, 'scripts'))) scripts.push(join(REPO, 'basefs', r, 'scripts', s));
  // Once per run: the verdict is the same on either Node (fixtures.ts keeps it only when it passed).
  await sharedFixture('basefs-shellcheck', async () => {
    run('shellcheck', ['-x', ...scripts, join(REPO, 'basefs', 'registry-image.sh')]);
  });
  for (const shared of ['common.sh', 'init-registry.sh']) {
    const [first, ...others] = await Promise.all(RUNTIMES.map((r) => readFile(join(REPO, 'basefs', r, 'scripts', shared), 'utf8')));
    for (const other of others) assert.equal(other, first, `basefs/*/scripts/${shared} are identical`);
  }
});

/** Commands the scripts call, as stubs that append their arguments to a log. */
const STUBBED = ['systemctl', 'k3s', 'k0s', 'kubeadm', 'kubectl', 'modprobe', 'sysctl', 'ctr', 'nerdctl', 'docker'];

/** Sockets of the services init.sh waits for (containerd), listening while a script runs. */
const SOCKETS: Record<Runtime, string> = { k3s: 'run/k3s/containerd/containerd.sock', k0s: 'run/k0s/containerd.sock', kubernetes: 'run/containerd/containerd.sock' };

interface Install {
  dest: string;
  calls: string[];
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs scripts/<script> of an exported rootfs against a fresh target root. */
async function runScript(runtime: Runtime, script: string, args: string[], env: Record<string, string> = {}): Promise<Install> {
  const rootfs = join(work, `export-${runtime}-amd64`);
  // Inside work, which after() removes: every install leaves its target and stubs behind.
  const dest = await mkdtemp(join(work, 'dest-'));
  const stubs = `${dest}-stubs`;
  await mkdir(stubs, { recursive: true });
  const log = join(stubs, 'calls.log');
  for (const name of STUBBED) {
    // `k0s token create` prints a token; `... import -` reads the archive piped in.
    await writeFile(join(stubs, name), `#!/bin/sh\necho "${name} $*" >> "${log}"\ncase "$*" in "token create"*) echo "token-for-$3";; *"import -"*|load) cat > /dev/null;; esac\n`);
    await chmod(join(stubs, name), 0o755);
  }
  // The script only checks that the socket exists.
  await mkdir(join(dest, SOCKETS[runtime], '..'), { recursive: true });
  const socket: Server = createServer();
  await new Promise<void>((resolve) => socket.listen(join(dest, SOCKETS[runtime]), resolve));
  // init-registry.sh waits for the registry's port to answer; something already on it will do.
  const port: Server = createServer((c) => c.destroy());
  await new Promise<void>((resolve) => port.once('error', () => resolve()).listen(Number(env.REGISTRY_PORT ?? 5000), '127.0.0.1', resolve));
  // Spawned asynchronously: the servers above answer from this process.
  const result = await spawnCollect('bash', [join(rootfs, 'scripts', script), ...args], {
    env: { PATH: `${stubs}:${process.env.PATH}`, DESTDIR: dest, SEALBUILD_ROOTFS: rootfs, HOME: dest, SEALBUILD_WAIT_SECONDS: '5', ...env },
  });
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  if (port.listening) await new Promise<void>((resolve) => port.close(() => resolve()));
  const calls = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  return { dest, calls, stdout: result.stdout, stderr: result.stderr, code: result.code };
}

test('k3s init.sh: a first server with embedded etcd, registries.yaml mirroring the registry, airgap images, systemd', async () => {
  const install = await runScript('k3s', 'init.sh', ['server', '--cluster-init', '--token', 's3cret', '--registry-ip', '10.0.0.5']);
  assert.equal(install.code, 0, install.stderr);
  const { dest } = install;
  assert.deepEqual(install.calls, ['systemctl daemon-reload', 'systemctl enable --now k3s.service']);
  assert.ok(parseElfHeader(await readFile(join(dest, 'usr/local/bin/k3s'))), 'the binary is installed');
  for (const tool of ['kubectl', 'crictl', 'ctr']) assert.equal(await readlink(join(dest, 'usr/local/bin', tool)), 'k3s');
  assert.equal(await readFile(join(dest, 'var/lib/rancher/k3s/agent/images/k3s-airgap-images.tar.zst'), 'utf8'), 'airgap images for amd64\n');
  assert.deepEqual(parse(await readFile(join(dest, 'etc/rancher/k3s/registries.yaml'), 'utf8')), {
    mirrors: { 'sea.hub:5000': { endpoint: ['http://sea.hub:5000'] }, '*': { endpoint: ['http://sea.hub:5000'] } },
  });
  assert.deepEqual(parse(await readFile(join(dest, 'etc/rancher/k3s/config.yaml'), 'utf8')), { token: 's3cret', 'cluster-init': true });
  assert.match(await readFile(join(dest, 'etc/systemd/system/k3s.service'), 'utf8'), /ExecStart=\/usr\/local\/bin\/k3s server/);
  assert.match(await readFile(join(dest, 'etc/hosts'), 'utf8'), /^10\.0\.0\.5 sea\.hub # sealbuild registry$/m);
});

test('k3s init.sh: an agent joining with an external CRI; a server on an external datastore; the registry started with k3s ctr', async () => {
  const agent = await runScript('k3s', 'init.sh', ['agent', '--server', 'https://10.0.0.1:6443', '--token', 's3cret', '--docker']);
  assert.equal(agent.code, 0, agent.stderr);
  assert.deepEqual(agent.calls, ['systemctl daemon-reload', 'systemctl enable --now k3s-agent.service']);
  assert.deepEqual(parse(await readFile(join(agent.dest, 'etc/rancher/k3s/config.yaml'), 'utf8')), { server: 'https://10.0.0.1:6443', token: 's3cret', docker: true });
  await assert.rejects(lstat(join(agent.dest, 'etc/rancher/k3s/registries.yaml')), 'registries.yaml does not apply to docker');
  assert.match(agent.stderr, /external container runtime: registries\.yaml is not used/);

  const ha = await runScript('k3s', 'init.sh', ['server', '--datastore-endpoint', 'mysql://k3s:pw@tcp(10.0.0.9:3306)/k3s', '--token', 't', '--with-registry'], { REGISTRY_PORT: '5443' });
  assert.equal(ha.code, 0, ha.stderr);
  assert.deepEqual(parse(await readFile(join(ha.dest, 'etc/rancher/k3s/config.yaml'), 'utf8')), { token: 't', 'datastore-endpoint': 'mysql://k3s:pw@tcp(10.0.0.9:3306)/k3s' });
  assert.deepEqual(parse(await readFile(join(ha.dest, 'etc/rancher/k3s/registries.yaml'), 'utf8')).mirrors['*'], { endpoint: ['http://sea.hub:5443'] });
  const rootfs = join(work, 'export-k3s-amd64');
  assert.deepEqual(ha.calls.slice(2).filter((c) => !/ -n sealbuild (containers label|tasks delete|containers delete) /.test(c)), [
    'k3s ctr -n sealbuild images import -',
    `k3s ctr -n sealbuild run -d --net-host --label containerd.io/restart.status=running --env REGISTRY_HTTP_ADDR=0.0.0.0:5443 --mount type=bind,src=${rootfs}/registry,dst=/var/lib/registry,options=rbind:rw docker.io/library/registry:2.8.3 sealbuild-registry /bin/registry serve /etc/docker/registry/config.yml`,
  ]);

  const bad = await runScript('k3s', 'init.sh', ['agent', '--token', 'x']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /an agent needs --server URL/);
  assert.deepEqual(bad.calls, []);
});

test('k0s init.sh: a controller with images.repository, the containerd mirror drop-in and join tokens; a worker joins with one', async () => {
  const tokens = join(work, 'k0s-tokens');
  const controller = await runScript('k0s', 'init.sh', ['controller', '--enable-worker', '--tokens-dir', tokens]);
  assert.equal(controller.code, 0, controller.stderr);
  const { dest } = controller;
  assert.deepEqual(controller.calls, [
    `k0s install controller --config ${dest}/etc/k0s/k0s.yaml --enable-worker`,
    'k0s start',
    'k0s token create --role=worker',
    'k0s token create --role=controller',
  ]);
  const config = parse(await readFile(join(dest, 'etc/k0s/k0s.yaml'), 'utf8'));
  assert.deepEqual(config.spec.images, { repository: 'sea.hub:5000', default_pull_policy: 'IfNotPresent' });
  assert.equal(config.kind, 'ClusterConfig');
  assert.match(await readFile(join(dest, 'etc/k0s/containerd.d/cri-registry.toml'), 'utf8'), /config_path = "\/etc\/k0s\/containerd.d\/certs.d"/);
  assert.match(await readFile(join(dest, 'etc/k0s/containerd.d/certs.d/_default/hosts.toml'), 'utf8'), /^\[host\."http:\/\/sea\.hub:5000"\]\n {2}capabilities = \["pull", "resolve"\]$/m);
  assert.equal(await readFile(join(tokens, 'worker-token'), 'utf8'), 'token-for---role=worker\n');
  assert.equal(await readFile(join(tokens, 'controller-token'), 'utf8'), 'token-for---role=controller\n');
  assert.ok(parseElfHeader(await readFile(join(dest, 'usr/local/bin/k0s'))));

  const worker = await runScript('k0s', 'init.sh', ['worker', '--token-file', join(tokens, 'worker-token')]);
  assert.equal(worker.code, 0, worker.stderr);
  assert.deepEqual(worker.calls, [`k0s install worker --token-file ${join(tokens, 'worker-token')}`, 'k0s start']);

  const clean = await runScript('k0s', 'clean.sh', []);
  assert.equal(clean.code, 0, clean.stderr);
});

test('kubernetes init.sh: containerd with a hosts.toml mirror, kubeadm init from a config of the image\'s version; join', async () => {
  const init = await runScript('kubernetes', 'init.sh', ['init', '--control-plane-endpoint', '10.0.0.10:6443', '--with-registry']);
  assert.equal(init.code, 0, init.stderr);
  const { dest } = init;
  const rootfs = join(work, 'export-kubernetes-amd64');
  assert.deepEqual(init.calls.filter((c) => !/ -n sealbuild (containers label|tasks delete|containers delete) /.test(c)), [
    'modprobe overlay',
    'modprobe br_netfilter',
    `sysctl -p ${dest}/etc/sysctl.d/99-sealbuild-kubernetes.conf`,
    'systemctl daemon-reload',
    'systemctl enable --now containerd.service',
    'systemctl enable kubelet.service',
    'ctr -n sealbuild images import -',
    `ctr -n sealbuild run -d --net-host --label containerd.io/restart.status=running --env REGISTRY_HTTP_ADDR=0.0.0.0:5000 --mount type=bind,src=${rootfs}/registry,dst=/var/lib/registry,options=rbind:rw docker.io/library/registry:2.8.3 sealbuild-registry /bin/registry serve /etc/docker/registry/config.yml`,
    `kubeadm init --config ${dest}/etc/kubernetes/kubeadm.yaml --upload-certs`,
    `kubectl --kubeconfig ${dest}/etc/kubernetes/admin.conf apply -f ${dest}/etc/kubernetes/sealbuild/kube-flannel.yaml`,
  ]);
  // The pod network is applied with the cluster's pod subnet.
  const flannel = (await readFile(join(dest, 'etc/kubernetes/sealbuild/kube-flannel.yaml'), 'utf8')).split(/^---$/m).map((d) => parse(d));
  const config = flannel.find((d) => d?.kind === 'ConfigMap');
  assert.equal(JSON.parse(config.data['net-conf.json']).Network, '10.244.0.0/16');
  for (const bin of ['usr/local/bin/containerd', 'usr/local/bin/ctr', 'usr/local/bin/crictl', 'usr/local/sbin/runc', 'usr/local/bin/kubeadm', 'opt/cni/bin/bridge']) {
    assert.equal(parseElfHeader(await readFile(join(dest, bin)))?.machine, 62, `${bin} is installed`);
  }
  assert.match(await readFile(join(dest, 'etc/containerd/certs.d/_default/hosts.toml'), 'utf8'), /^\[host\."http:\/\/sea\.hub:5000"\]\n {2}capabilities = \["pull", "resolve"\]$/m);
  assert.match(await readFile(join(dest, 'etc/containerd/config.toml'), 'utf8'), /config_path = "\/etc\/containerd\/certs.d"/);
  const docs = (await readFile(join(dest, 'etc/kubernetes/kubeadm.yaml'), 'utf8')).split(/^---$/m).map((d) => parse(d));
  assert.equal(docs[1].kubernetesVersion, 'v1.30.4');
  assert.equal(docs[1].controlPlaneEndpoint, '10.0.0.10:6443');
  assert.equal(docs[1].networking.podSubnet, '10.244.0.0/16');
  assert.equal(docs[2].cgroupDriver, 'systemd');
  // Swap is tolerated as kubeadm's install guide describes; pods get none.
  assert.equal(docs[2].failSwapOn, false);
  assert.deepEqual(docs[2].memorySwap, { swapBehavior: 'NoSwap' });

  const join_ = await runScript('kubernetes', 'init.sh', ['join-control-plane', '--control-plane-endpoint', '10.0.0.10:6443', '--token', 'abcdef.0123456789abcdef', '--discovery-token-ca-cert-hash', 'sha256:1234', '--certificate-key', 'k3y']);
  assert.equal(join_.code, 0, join_.stderr);
  assert.equal(join_.calls.at(-1), 'kubeadm join 10.0.0.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:1234 --cri-socket unix:///run/containerd/containerd.sock --control-plane --certificate-key k3y');
  const missing = await runScript('kubernetes', 'init.sh', ['join', '--control-plane-endpoint', '10.0.0.10:6443']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /join needs --control-plane-endpoint, --token and --discovery-token-ca-cert-hash/);
});

test('verify --contract sealos,sealer: the k3s and kubernetes images meet sealos\' rootfs contract, kubernetes sealer\'s too; sealos has no k0s, sealer no k3s', async () => {
  const k3s = await sealbuildOk(root, ['verify', '--contract', 'sealos', built.get('k3s')!]);
  assert.doesNotMatch(k3s.stdout, /FAIL/);
  for (const line of [/ok +sealos: label init +"init\.sh install": scripts\/init\.sh/, /ok +sealos: label check +"check\.sh": scripts\/check\.sh/, /ok +sealos: etc\/registry\.yml +sea\.hub:5000, data \/var\/lib\/sealbuild-registry/, /ok +sealos: sealos\.io\.version +v1beta1/]) {
    assert.match(k3s.stdout, line);
  }
  const kube = await sealbuildOk(root, ['verify', '--contract', 'sealos,sealer', built.get('kubernetes')!]);
  assert.doesNotMatch(kube.stdout, /FAIL/);
  assert.match(kube.stdout, /ok +sealos: label init-registry +"init\.sh install --with-registry": scripts\/init\.sh/);
  assert.match(kube.stdout, /ok +sealer: etc\/kubeadm\.yml +InitConfiguration, ClusterConfiguration, KubeletConfiguration, kubernetesVersion v1\.30\.4/);
  assert.match(kube.stdout, /ok +sealer: scripts\/uninstall-containerd\.sh +present/);
  // etc/kubeadm.yml is init.sh's template, rendered at build with the image's version.
  const docs = (await readFile(join(work, 'export-kubernetes-arm64', 'etc/kubeadm.yml'), 'utf8')).split(/^---$/m).map((d) => parse(d));
  assert.deepEqual(docs[1].networking, { podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12' });
  assert.equal(docs[1].kubernetesVersion, 'v1.30.4');

  const noK3s = await sealbuild(root, ['verify', '--contract', 'sealer', built.get('k3s')!]);
  assert.equal(noK3s.code, 1);
  assert.match(noK3s.stdout, /FAIL +sealer: cluster runtime +k3s: sealer has no k3s runtime/);
  assert.match(noK3s.stderr, /does not meet the contracts checked \(sealbuild's, sealer's\): 2 problems \(linux\/amd64, linux\/arm64\)/);
  const noK0s = await sealbuild(root, ['verify', '--contract', 'sealos', built.get('k0s')!]);
  assert.equal(noK0s.code, 1);
  assert.match(noK0s.stdout, /FAIL +sealos: distribution +k0s: sealos installs only kubernetes and k3s/);
  const unknown = await sealbuild(root, ['verify', '--contract', 'sealos,kubekey', built.get('k3s')!]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--contract: "kubekey" is not one of sealos, sealer/);
});

test('verify --contract sealos names each thing an image on top of the base breaks', async () => {
  const ctx = join(work, 'ctx-breaks-sealos');
  await mkdir(ctx, { recursive: true });
  // A number for the port (sealos then drops the file for sealos.hub:5000), no data, another domain.
  await writeFile(join(ctx, 'registry.yml'), 'domain: sealos.hub\nport: 5000\n');
  await writeFile(join(ctx, 'Kubefile'), `FROM ${built.get('k3s')!}\nCOPY registry.yml etc/registry.yml\nLABEL clean-registry="gone.sh --all"\n`);
  await sealbuildOk(root, ['-t', 'test/breaks-sealos:v1', '--platform', 'linux/amd64', ctx]);
  const result = await sealbuild(root, ['verify', '--contract', 'sealos', 'test/breaks-sealos:v1']);
  assert.equal(result.code, 1);
  const fails = result.stdout.split('\n').filter((l) => l.includes('FAIL'));
  assert.equal(fails.length, 2, result.stdout);
  assert.match(fails[0]!, /sealos: label clean-registry +"gone\.sh --all", but scripts\/gone\.sh is missing/);
  assert.match(fails[1]!, /sealos: etc\/registry\.yml +port is not a string .*; data must be an absolute path .*; says sealos\.hub:5000, but the image's registry .* is sea\.hub:5000/);
  // sealbuild's own contract still holds: only --contract finds these.
  await sealbuildOk(root, ['verify', 'test/breaks-sealos:v1']);
});

test('check.sh (sealos\' `check`): passes on a host of the image\'s architecture; names every problem at once otherwise', async () => {
  const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const otherArch = hostArch === 'amd64' ? 'arm64' : 'amd64';
  const passed = await runScript('k3s', 'check.sh', []);
  if (hostArch === 'amd64') {
    assert.equal(passed.code, 0, passed.stderr);
    assert.match(passed.stderr, /host check passed \(amd64\)/);
    assert.deepEqual(passed.calls, [], 'check.sh changes nothing');
  }
  // A PATH with what the script itself needs, and neither systemctl nor gzip.
  const bin = join(work, 'check-path');
  await mkdir(bin, { recursive: true });
  for (const t of ['dirname', 'sed', 'head', 'uname', 'id', 'awk', 'grep', 'install', 'tar']) {
    const found = spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim();
    await cp(found, join(bin, t));
  }
  const bash = spawnSync('sh', ['-c', 'command -v bash'], { encoding: 'utf8' }).stdout.trim();
  const failed = spawnSync(bash, [join(work, `export-kubernetes-${otherArch}`, 'scripts', 'check.sh')], {
    encoding: 'utf8', env: { PATH: bin, DESTDIR: join(work, 'check-dest') },
  });
  assert.equal(failed.status, 1);
  assert.match(failed.stderr, new RegExp(`^\\[sealbuild\\] error: this host cannot take the image: no systemctl: the runtime runs as systemd units; this host is ${hostArch} but the image is for ${otherArch} \\(install the ${hostArch} image\\); missing tools: gzip\\n$`));
});

test('k3s init.sh install (sealos\' `init`): k3s, its images, registries.yaml and the unit, enabled but not started; no config', async () => {
  const install = await runScript('k3s', 'init.sh', ['install']);
  assert.equal(install.code, 0, install.stderr);
  assert.deepEqual(install.calls, ['systemctl daemon-reload', 'systemctl enable k3s.service']);
  assert.ok(parseElfHeader(await readFile(join(install.dest, 'usr/local/bin/k3s'))), 'the binary is installed');
  assert.equal(await readFile(join(install.dest, 'var/lib/rancher/k3s/agent/images/k3s-airgap-images.tar.zst'), 'utf8'), 'airgap images for amd64\n');
  assert.ok(parse(await readFile(join(install.dest, 'etc/rancher/k3s/registries.yaml'), 'utf8')).mirrors['*']);
  await assert.rejects(lstat(join(install.dest, 'etc/rancher/k3s/config.yaml')), 'sealos writes the config');
  const withRegistry = await runScript('k3s', 'init.sh', ['install', '--with-registry']);
  assert.equal(withRegistry.code, 1);
  assert.match(withRegistry.stderr, /install --with-registry: the registry runs in k3s' containerd, which install does not start/);
});

test('clean-registry.sh (sealos\' `clean-registry`) and sealer\'s init-kube.sh, containerd.sh, uninstall-containerd.sh', async () => {
  const ctr = await runScript('kubernetes', 'clean-registry.sh', [], { SEALBUILD_CONTAINER_CLI: 'ctr' });
  assert.equal(ctr.code, 0, ctr.stderr);
  assert.deepEqual(ctr.calls, [
    'ctr -n sealbuild containers label sealbuild-registry containerd.io/restart.status=stopped',
    'ctr -n sealbuild tasks delete -f sealbuild-registry',
    'ctr -n sealbuild containers delete sealbuild-registry',
  ]);
  const nerdctl = await runScript('k3s', 'clean-registry.sh', []);
  assert.deepEqual(nerdctl.calls, ['nerdctl rm -f sealbuild-registry'], 'the first tool in PATH, as init-registry.sh chooses');

  for (const script of ['init-kube.sh', 'containerd.sh']) {
    const prepared = await runScript('kubernetes', script, []);
    assert.equal(prepared.code, 0, prepared.stderr);
    assert.deepEqual(prepared.calls.slice(-3), ['systemctl daemon-reload', 'systemctl enable --now containerd.service', 'systemctl enable kubelet.service'], `${script} prepares the host and runs no kubeadm`);
    assert.equal(parseElfHeader(await readFile(join(prepared.dest, 'usr/local/bin/kubelet')))?.machine, 62);
  }
  const uninstall = await runScript('kubernetes', 'uninstall-containerd.sh', []);
  assert.equal(uninstall.code, 0, uninstall.stderr);
  assert.match(uninstall.stderr, /kubernetes removed/);
});

test('init-registry.sh refuses a placeholder registry image', async () => {
  const rootfs = join(work, 'export-placeholder');
  await cp(join(work, 'export-k3s-amd64'), rootfs, { recursive: true });
  run('bash', [join(REPO, 'basefs', 'registry-image.sh'), '--placeholder', rootfs]);
  const result = spawnSync('bash', [join(rootfs, 'scripts', 'init-registry.sh')], { encoding: 'utf8', env: { ...process.env, SEALBUILD_ROOTFS: rootfs, SEALBUILD_CONTAINER_CLI: 'false' } });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /registry\.tar\.gz is a placeholder/);
});

for (const runtime of RUNTIMES) {
  test(`sealbuild init --runtime ${runtime}, then build for amd64 and arm64, then verify: passes`, async () => {
    const base = built.get(runtime);
    assert.ok(base, `the ${runtime} base was built by an earlier test`);
    const dir = join(work, `init-${runtime}`);
    const init = await sealbuildOk(root, ['init', '--runtime', runtime, '--base', base, dir]);
    assert.ok(init.stdout.includes(`wrote ${dir}: Kubefile, manifests, manifests/hello.yaml (FROM ${base})`), init.stdout);
    assert.deepEqual((await readdir(dir)).sort(), ['Kubefile', 'manifests']);
    const tag = `test/${runtime}-cluster:v1`;
    await sealbuildOk(root, ['-t', tag, '--build-mode', 'lite', '--platform', 'linux/amd64,linux/arm64', dir]);
    const verified = await sealbuildOk(root, ['verify', tag]);
    assert.match(verified.stdout, /verified: linux\/amd64, linux\/arm64/);
    // The base's Metadata still holds: the child adds a layer for its manifests and none for Metadata.
    const [child, parent] = await Promise.all([tag, base].map(async (t) => JSON.parse((await sealbuildOk(root, ['inspect', '--json', '--platform', 'linux/amd64', t])).stdout)));
    assert.equal(child.manifest.layers.length, parent.manifest.layers.length + 1);
  });
}

test('sealbuild init without --base names the base basefs/ pins; refuses a directory that is not empty and an unknown runtime', async () => {
  const dir = join(work, 'init-default');
  const init = await sealbuildOk(root, ['init', '--runtime', 'k3s', dir]);
  assert.match(await readFile(join(dir, 'Kubefile'), 'utf8'), /^ARG BASE=docker\.io\/sealbuild\/k3s:v1\.34\.2-k3s1$/m);
  assert.match(init.stdout, /sealbuild -t sealbuild\/k3s:v1\.34\.2-k3s1 --platform linux\/amd64,linux\/arm64 .*basefs\/k3s/);
  const again = await sealbuild(root, ['init', '--runtime', 'k3s', dir]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /^Error: .*init-default is not empty \(hint: give a new or empty directory\)$/m);
  const unknown = await sealbuild(root, ['init', '--runtime', 'k8s', join(work, 'init-unknown')]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--runtime: unknown cluster runtime "k8s" \(hint: use one of kubernetes, k0s, k3s\)/);
});

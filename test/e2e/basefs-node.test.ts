import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { REPO, removeDir, run, sealbuildOk, tempDir, tool } from '../helpers/cli.js';
import { fakeBinary } from '../helpers/fakes.js';
import { addKubernetesDependencies, registryImageArchive } from '../helpers/cluster-images.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { serveReleases, sha256, type ReleaseServer } from '../helpers/releases.js';
import { TestBed } from '../helpers/testbed.js';

/*
 * The basefs scripts on hosts as real as this machine allows (scripts/testbed.sh: network
 * namespaces on a bridge with nothing behind it, their own mounts and processes): the real
 * containerd, runc and ctr of Debian, the registry image registry-image.sh --offline makes
 * from Debian's docker-registry, image pulls through the mirror configuration the scripts
 * write; fakes (test/fixtures/fakes) only for k3s, k0s, kubeadm, kubelet and kubectl. Each
 * runtime is built twice (an old and a new version, to upgrade between them) for amd64 from
 * a local release server, its images cached from a local registry, and installed, joined,
 * upgraded, deleted and cleaned on two hosts.
 */

const exec = promisify(execFile);
const bed = new TestBed('sbbf', '198.18.1');
/** The /etc/hosts line init.sh writes for the registry on host 1. */
const registryHostsLine = new RegExp(`^${bed.ip(1).replaceAll('.', '\\.')} sea\\.hub # sealbuild registry$`, 'm');
/** Where the rootfs is delivered on a host, as `sealbuild run` does (src/cluster/deliver.ts). */
const ROOTFS = '/var/lib/sealbuild/rootfs';
/** The trees a script may write to, listed before and after to prove clean.sh removed its files. */
const TREES = '/etc /usr/local /opt /var/lib /run';

let work: string;
let root: string;
let source: Registry;
let releases: ReleaseServer;
const releaseFiles = new Map<string, Buffer>();
let registryArchive: string;

/** `sh -c` on host i, failing with its output. */
const sh = (i: number, script: string) => bed.sh(i, script);

/** Runs a script of the rootfs `dir` on host i with env; resolves to the result, never throws. */
function script(i: number, dir: string, name: string, args: string[], env: Record<string, string> = {}) {
  return bed.exec(i, ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'bash', `${ROOTFS}/${dir}/scripts/${name}`, ...args]);
}
async function scriptOk(i: number, dir: string, name: string, args: string[], env: Record<string, string> = {}) {
  const result = await script(i, dir, name, args, env);
  assert.equal(result.code, 0, `host ${i}: ${name} ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
  return result;
}

async function waitFor(what: string, check: () => Promise<boolean>, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Every path under the trees a script may touch, with /etc/hosts' content: a host's listing. */
async function listing(i: number): Promise<string[]> {
  const out = await sh(i, `find ${TREES} -xdev 2>/dev/null | grep -v -e '^/run/testbed-' -e '^/var/lib/sealbuild/' -e '^/etc/sealbuild-fakes.env$' | sort; md5sum /etc/hosts`);
  return out.split('\n');
}

/** What survives on host i of a runtime that clean.sh removed: processes, mounts. */
async function leftovers(i: number): Promise<{ processes: string; mounts: string }> {
  const processes = await sh(i, "ps -e -o args= | grep -E '^(/bin/registry|/usr/bin/containerd|/usr/local/bin/containerd|/pause)' || true");
  const mounts = await sh(i, "awk '{print $2}' /proc/self/mounts | grep -E '^(/var/lib/rancher|/run/k3s|/run/k0s|/var/lib/k0s|/run/containerd|/var/lib/kubelet|/var/lib/containerd)' || true");
  return { processes: processes.trim(), mounts: mounts.trim() };
}

/** Tar of `dir`, piped into host i under ROOTFS/name. */
async function deliver(i: number, dir: string, name: string): Promise<void> {
  const { stdout } = await exec('tar', ['-c', '-C', dir, '.'], { encoding: 'buffer', maxBuffer: 1 << 30 });
  const result = await bed.exec(i, ['sh', '-c', `rm -rf ${ROOTFS}/${name} && mkdir -p ${ROOTFS}/${name} && tar -x -C ${ROOTFS}/${name}`], stdout);
  assert.equal(result.code, 0, result.stderr);
}

/** A "pause" image made offline: sleep and the libraries it needs, as /pause. */
async function pauseImage(): Promise<string> {
  const ctx = join(work, 'pause');
  await mkdir(join(ctx, 'rootfs'), { recursive: true });
  await copyFile('/usr/bin/sleep', join(ctx, 'rootfs', 'pause'));
  const libs = run('sh', ['-c', "ldd /usr/bin/sleep | grep -o '/[^ ]*'"]).trim().split('\n');
  for (const lib of libs) {
    await mkdir(join(ctx, 'rootfs', lib, '..'), { recursive: true });
    await copyFile(lib, join(ctx, 'rootfs', lib));
  }
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY rootfs/ /\n');
  await sealbuildOk(root, ['-t', 'test/pause:1', '--platform', 'linux/amd64', ctx]);
  return 'test/pause:1';
}

type Runtime = 'k3s' | 'k0s' | 'kubernetes';

/** The release files of `runtime` at `version` (amd64), with fakes for the cluster binaries. */
async function releasesFor(runtime: Runtime, version: string): Promise<string[]> {
  const args: string[] = [`VERSION=${version}`];
  const add = (path: string, content: Buffer, arg: string) => {
    releaseFiles.set(path, content);
    args.push(`${arg}=${sha256(content)}`);
  };
  if (runtime === 'k3s') {
    add(`/k3s/${version}/k3s`, await fakeBinary('k3s', version), 'K3S_SHA256_amd64');
    add(`/k3s/${version}/k3s-airgap-images-amd64.tar.zst`, Buffer.from('not an image archive: k3s logs it and goes on\n'), 'K3S_IMAGES_SHA256_amd64');
    args.push(`K3S_RELEASES=${releases.url}/k3s`);
  } else if (runtime === 'k0s') {
    add(`/k0s/${version}/k0s-${version}-amd64`, await fakeBinary('k0s', version), 'K0S_SHA256_amd64');
    args.push(`K0S_RELEASES=${releases.url}/k0s`);
  } else {
    for (const bin of ['kubeadm', 'kubelet', 'kubectl'] as const) add(`/kube/${version}/bin/linux/amd64/${bin}`, await fakeBinary(bin, version), `${bin.toUpperCase()}_SHA256_amd64`);
    await addKubernetesDependencies(add);
    args.push(...['KUBE', 'RUNC', 'CONTAINERD', 'CRICTL', 'CNI'].map((r) => `${r}_RELEASES=${releases.url}/${r === 'KUBE' ? 'kube' : r.toLowerCase()}`));
  }
  return args.flatMap((a) => ['--build-arg', a]);
}

/** The sandbox image each runtime's node starts, as the build caches it from `source`. */
const PAUSE: Record<Runtime, string> = { k3s: 'rancher/mirrored-pause:3.6', k0s: 'k0sproject/pause:3.10.1', kubernetes: 'pause:3.9' };

/**
 * basefs/<runtime> built for amd64 at `version` and exported: the offline registry image, the
 * sandbox image in manifests/imageList (cached into registry/ from the local registry).
 */
async function buildAndExport(runtime: Runtime, version: string): Promise<{ dir: string; init: string[] }> {
  const ctx = join(work, `ctx-${runtime}-${version}`);
  await cp(join(REPO, 'basefs', runtime), ctx, { recursive: true });
  await mkdir(join(ctx, 'images'), { recursive: true });
  await mkdir(join(ctx, 'manifests'), { recursive: true });
  await copyFile(registryArchive, join(ctx, 'images', 'registry.tar.gz'));
  if (runtime === 'k3s') await writeFile(join(ctx, 'Kubefile'), (await readFile(join(ctx, 'Kubefile'), 'utf8')) + 'COPY manifests manifests\n');
  await writeFile(join(ctx, 'manifests', 'imageList'), `${source.host}/${PAUSE[runtime]}\n`);
  const tag = `test/${runtime}:${version.replace(/\+/g, '-')}`;
  await sealbuildOk(root, ['-t', tag, '--platform', 'linux/amd64', ...(await releasesFor(runtime, version)), ctx]);
  const dir = join(work, `rootfs-${runtime}-${version}`);
  await sealbuildOk(root, ['export', tag, '--platform', 'linux/amd64', '-o', dir]);
  const labels = JSON.parse((await sealbuildOk(root, ['inspect', '--json', tag])).stdout).labels as Record<string, string>;
  const [initScript, ...initArgs] = labels['sealbuild.io/init']!.split(' ');
  assert.equal(initScript, 'init.sh');
  return { dir, init: initArgs };
}

before(async () => {
  for (const [cmd, pkg] of [['containerd', 'containerd'], ['runc', 'runc'], ['ctr', 'containerd'], ['docker-registry', 'docker-registry'], ['conntrack', 'conntrack'], ['modprobe', 'kmod'], ['iptables', 'iptables'], ['sshd', 'openssh-server']]) tool(cmd!, pkg!);
  work = await tempDir();
  root = join(work, 'root');
  registryArchive = await registryImageArchive();
  source = await startRegistry();
  const pause = await pauseImage();
  for (const name of Object.values(PAUSE)) await sealbuildOk(root, ['push', pause, `${source.host}/${name}`]);
  releases = await serveReleases(releaseFiles);
  await bed.down();
  await bed.up(2);
});
after(async () => {
  await bed.down();
  await releases?.close();
  await source?.stop();
  await removeDir(work);
});

/** The state the fakes share, emptied between runtimes (a new cluster each time). */
async function newCluster(): Promise<void> {
  await sh(1, 'rm -rf /run/testbed-shared/cluster');
}

describe('k3s', () => {
  let v1: { dir: string; init: string[] };
  let v2: { dir: string; init: string[] };
  let before1: string[];
  let before2: string[];

  test('init.sh with the image\'s default init label, on a host with no network but the bridge, starts the registry and pulls the pause image through it', async () => {
    [v1, v2] = [await buildAndExport('k3s', 'v1.34.2+k3s1'), await buildAndExport('k3s', 'v1.34.3+k3s1')];
    assert.deepEqual(v1.init, ['server', '--with-registry']);
    await newCluster();
    for (const i of [1, 2]) {
      await deliver(i, v1.dir, 'k3s-v1');
      await deliver(i, v2.dir, 'k3s-v2');
    }
    [before1, before2] = [await listing(1), await listing(2)];
    await scriptOk(1, 'k3s-v1', 'init.sh', [...v1.init, '--token', 's3cret']);
    // The registry domain points at this node, where the registry listens.
    assert.match(await sh(1, 'cat /etc/hosts'), registryHostsLine);
    assert.match(await sh(1, 'k3s ctr -n sealbuild tasks ls'), /sealbuild-registry\s+\d+\s+RUNNING/);
    // The only way to docker.io/rancher/mirrored-pause is the mirror: the host has no route out.
    await waitFor('the pause image on host 1', async () => (await sh(1, 'k3s ctr -n k8s.io images ls -q')).includes('docker.io/rancher/mirrored-pause:3.6'));
    await waitFor('node 1 Ready', async () => new RegExp(`${bed.name}-1\\s+Ready\\s+control-plane\\s+v1\\.34\\.2\\+k3s1`).test(await sh(1, 'k3s kubectl get nodes')));
    assert.match(await sh(1, 'k3s ctr -n k8s.io tasks ls'), /fake-sandbox\s+\d+\s+RUNNING/);
  });

  test('an agent joins with the token and --registry-ip, pulling through the first server\'s registry; a wrong token is refused', async () => {
    const wrong = await script(2, 'k3s-v1', 'init.sh', ['agent', '--server', `https://${bed.ip(1)}:6443`, '--token', 'wrong', '--registry-ip', bed.ip(1)]);
    assert.notEqual(wrong.code, 0, 'an agent with a wrong token does not start');
    assert.match(wrong.stderr, /token rejected/);
    await scriptOk(2, 'k3s-v1', 'clean.sh', []);
    await scriptOk(2, 'k3s-v1', 'init.sh', ['agent', '--server', `https://${bed.ip(1)}:6443`, '--token', 's3cret', '--registry-ip', bed.ip(1)]);
    await waitFor('node 2 Ready', async () => new RegExp(`${bed.name}-2\\s+Ready`).test(await sh(1, 'k3s kubectl get nodes')));
    assert.match(await sh(2, 'k3s ctr -n k8s.io images ls -q'), /docker\.io\/rancher\/mirrored-pause:3\.6/);
  });

  test('the registry comes back by itself when it dies (containerd restart monitor label)', async () => {
    await sh(1, 'k3s ctr -n sealbuild tasks kill -s SIGKILL sealbuild-registry');
    await waitFor('the registry task stopped', async () => !/RUNNING/.test(await sh(1, 'k3s ctr -n sealbuild tasks ls')), 10);
    await waitFor('the registry running again', async () => /sealbuild-registry\s+\d+\s+RUNNING/.test(await sh(1, 'k3s ctr -n sealbuild tasks ls')), 30);
  });

  test('upgrade.sh: the servers then the agents run the new k3s; the registry serves the new image\'s registry/', async () => {
    await scriptOk(1, 'k3s-v2', 'upgrade.sh', ['server', '--with-registry']);
    await scriptOk(2, 'k3s-v2', 'upgrade.sh', ['agent']);
    await waitFor('both nodes at v1.34.3', async () => {
      const nodes = await sh(1, 'k3s kubectl get nodes');
      return new RegExp(`${bed.name}-1\\s+Ready\\s+\\S+\\s+v1\\.34\\.3\\+k3s1`).test(nodes) && new RegExp(`${bed.name}-2\\s+Ready\\s+\\S+\\s+v1\\.34\\.3\\+k3s1`).test(nodes);
    });
    assert.match(await sh(1, 'k3s ctr -n sealbuild containers info sealbuild-registry'), /rootfs\/k3s-v2\/registry/);
    assert.equal((await sh(1, '/usr/local/bin/k3s --version')).trim(), 'k3s version v1.34.3+k3s1 (fake)');
  });

  test('delete.sh node NAME on the server, delete.sh leave and clean.sh on the agent: the node is gone, the agent host as before', async () => {
    await scriptOk(1, 'k3s-v2', 'delete.sh', ['node', `${bed.name}-2`]);
    assert.doesNotMatch(await sh(1, 'k3s kubectl get nodes'), new RegExp(`${bed.name}-2`));
    assert.match(await sh(1, 'cat /run/testbed-shared/cluster/calls.log'), new RegExp(`${bed.name}-1: k3s kubectl drain ${bed.name}-2 --ignore-daemonsets --delete-emptydir-data --force`));
    await scriptOk(2, 'k3s-v2', 'delete.sh', ['leave']);
    await scriptOk(2, 'k3s-v2', 'clean.sh', []);
    assert.deepEqual(await leftovers(2), { processes: '', mounts: '' });
    assert.deepEqual(await listing(2), before2);
  });

  test('clean.sh (k3s-killall.sh\'s order): no registry, no shim, no mount under /var/lib/rancher or /run/k3s, no cni0/flannel.1, no KUBE- rule, none of its files', async () => {
    // What a real k3s leaves: a pod network (the fake has no flannel; the host gets one here).
    await sh(1, 'ip link add cni0 type bridge && ip link add flannel.1 type bridge && iptables -N KUBE-SERVICES && iptables -A INPUT -j KUBE-SERVICES && iptables -A INPUT -p tcp --dport 9 -j ACCEPT');
    assert.match((await leftovers(1)).mounts, /^\/run\/k3s\//m, 'the pod and the registry have their rootfs mounted under /run/k3s');
    await scriptOk(1, 'k3s-v2', 'clean.sh', []);
    assert.deepEqual(await leftovers(1), { processes: '', mounts: '' });
    assert.equal(await sh(1, "ps -e -o args= | grep -c '^/usr/bin/containerd-shim' || true"), '0\n');
    assert.equal(await sh(1, 'ip -o link show | grep -c -e cni0 -e flannel || true'), '0\n');
    const rules = await sh(1, 'iptables-save');
    assert.doesNotMatch(rules, /KUBE-/);
    assert.match(rules, /--dport 9 -j ACCEPT/, 'rules that are not the cluster\'s stay');
    await sh(1, 'iptables -D INPUT -p tcp --dport 9 -j ACCEPT');
    assert.deepEqual(await listing(1), before1);
  });
});

/** Settings of the fakes on host i (/etc/sealbuild-fakes.env, which listing() leaves out). */
async function fakeSettings(i: number, settings: string): Promise<void> {
  await sh(i, `printf '%s\\n' '${settings}' > /etc/sealbuild-fakes.env`);
}

describe('k0s', () => {
  let v1: { dir: string; init: string[] };
  let v2: { dir: string; init: string[] };
  let before1: string[];
  let before2: string[];

  test('--with-registry on a controller without a worker is refused before anything is installed', async () => {
    [v1, v2] = [await buildAndExport('k0s', 'v1.34.3+k0s.0'), await buildAndExport('k0s', 'v1.34.4+k0s.0')];
    assert.deepEqual(v1.init, ['controller', '--single', '--with-registry']);
    await newCluster();
    for (const i of [1, 2]) {
      await deliver(i, v1.dir, 'k0s-v1');
      await deliver(i, v2.dir, 'k0s-v2');
      await fakeSettings(i, '');
    }
    [before1, before2] = [await listing(1), await listing(2)];
    const refused = await script(1, 'k0s-v1', 'init.sh', ['controller', '--with-registry']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^\[sealbuild\] error: --with-registry: a k0s controller without --single or --enable-worker runs no containerd, so it cannot run the registry/m);
    assert.deepEqual(await listing(1), before1);
  });

  test('k0s start returns before containerd is up: init.sh waits for its socket, and says so when it never comes', async () => {
    // containerd later than the wait allows: one clear line, not a failed `k0s ctr` under set -e.
    await fakeSettings(1, 'FAKE_K0S_CONTAINERD_DELAY=30');
    const late = await script(1, 'k0s-v1', 'init.sh', v1.init, { SEALBUILD_WAIT_SECONDS: '2' });
    assert.equal(late.code, 1);
    assert.match(late.stderr, /^\[sealbuild\] error: k0s' containerd did not come up: no \/run\/k0s\/containerd\.sock after 2s \(see k0s status and journalctl -u k0scontroller\)$/m);
    await scriptOk(1, 'k0s-v1', 'clean.sh', []);
    await newCluster();
    // containerd a few seconds after `k0s start`, as k0s does: the default init label works.
    await fakeSettings(1, 'FAKE_K0S_CONTAINERD_DELAY=4');
    await scriptOk(1, 'k0s-v1', 'init.sh', v1.init);
    assert.match(await sh(1, 'k0s ctr -n sealbuild tasks ls'), /sealbuild-registry\s+\d+\s+RUNNING/);
    assert.match(await sh(1, 'cat /etc/hosts'), registryHostsLine);
    // The system images, named as k0s.yaml's images.repository makes k0s ask for them, come
    // from the bundle init.sh put into /var/lib/k0s/images; the registry serves the rest.
    await waitFor('the pause image on host 1', async () => (await sh(1, 'k0s ctr -n k8s.io images ls -q')).includes('sea.hub:5000/k0sproject/pause:3.10.1'));
    // The registry answers on the node's address (this machine is on the test bed's bridge).
    assert.match(await (await fetch(`http://${bed.ip(1)}:5000/v2/_catalog`)).text(), /"k0sproject\/pause"/);
    await waitFor('node 1 Ready', async () => new RegExp(`${bed.name}-1\\s+Ready\\s+control-plane\\s+v1\\.34\\.3\\+k0s\\.0`).test(await sh(1, 'k0s kubectl get nodes')));
  });

  test('a second controller with a worker joins with a controller token; its system images come from /var/lib/k0s/images, with no registry in reach', async () => {
    await sh(1, 'k0s token create --role=controller > /run/testbed-shared/controller-token');
    // host 99 does not exist: only the bundle can give this node its sandbox image.
    await scriptOk(2, 'k0s-v1', 'init.sh', ['controller', '--enable-worker', '--token-file', '/run/testbed-shared/controller-token', '--registry-ip', bed.ip(99)]);
    await waitFor('node 2 Ready', async () => new RegExp(`${bed.name}-2\\s+Ready`).test(await sh(1, 'k0s kubectl get nodes')));
    assert.match(await sh(2, 'k0s ctr -n k8s.io images ls -q'), /^sea\.hub:5000\/k0sproject\/pause:3\.10\.1$/m);
    assert.match(await sh(2, 'tar -tf /var/lib/k0s/images/sealbuild-system-images.tar'), /^index\.json$/m);
    assert.match(await sh(1, 'k0s etcd member-list'), new RegExp(`"${bed.name}-2"`));
  });

  test('upgrade.sh: k0s stop, the new binary, k0s start, on each controller; the registry follows the new image', async () => {
    await scriptOk(1, 'k0s-v2', 'upgrade.sh', ['controller', '--with-registry']);
    await scriptOk(2, 'k0s-v2', 'upgrade.sh', ['controller']);
    await waitFor('both nodes at v1.34.4', async () => {
      const nodes = await sh(1, 'k0s kubectl get nodes');
      return new RegExp(`${bed.name}-1\\s+Ready\\s+\\S+\\s+v1\\.34\\.4\\+k0s\\.0`).test(nodes) && new RegExp(`${bed.name}-2\\s+Ready\\s+\\S+\\s+v1\\.34\\.4\\+k0s\\.0`).test(nodes);
    });
    assert.match(await sh(1, 'k0s ctr -n sealbuild containers info sealbuild-registry'), /rootfs\/k0s-v2\/registry/);
  });

  test('delete.sh: drained and deleted from controller 1, `k0s etcd leave` on controller 2, then clean.sh: host 2 as before', async () => {
    await scriptOk(1, 'k0s-v2', 'delete.sh', ['node', `${bed.name}-2`]);
    assert.doesNotMatch(await sh(1, 'k0s kubectl get nodes'), new RegExp(`${bed.name}-2`));
    await scriptOk(2, 'k0s-v2', 'delete.sh', ['leave']);
    assert.doesNotMatch(await sh(1, 'k0s etcd member-list'), new RegExp(`${bed.name}-2`));
    assert.match(await sh(1, 'cat /run/testbed-shared/cluster/calls.log'), new RegExp(`${bed.name}-2: k0s etcd leave`));
    await scriptOk(2, 'k0s-v2', 'clean.sh', []);
    assert.deepEqual(await leftovers(2), { processes: '', mounts: '' });
    assert.deepEqual(await listing(2), before2);
  });

  test('clean.sh: the registry stopped while containerd answers, k0s reset, host 1 as before', async () => {
    await scriptOk(1, 'k0s-v2', 'clean.sh', []);
    assert.deepEqual(await leftovers(1), { processes: '', mounts: '' });
    assert.deepEqual(await listing(1), before1);
  });
});

describe('kubernetes', () => {
  let v1: { dir: string; init: string[] };
  let v2: { dir: string; init: string[] };
  let before1: string[];
  let before2: string[];
  // The test bed's /var is an overlay, where containerd's overlayfs snapshotter cannot mount.
  const env = { CONTAINERD_SNAPSHOTTER: 'native' };

  test('init.sh names every missing host tool kubeadm\'s preflight needs in one message, before installing anything', async () => {
    [v1, v2] = [await buildAndExport('kubernetes', 'v1.30.4'), await buildAndExport('kubernetes', 'v1.30.5')];
    assert.deepEqual(v1.init, ['init', '--with-registry']);
    await newCluster();
    for (const i of [1, 2]) {
      await deliver(i, v1.dir, 'kube-v1');
      await deliver(i, v2.dir, 'kube-v2');
      await fakeSettings(i, '');
    }
    [before1, before2] = [await listing(1), await listing(2)];
    // A PATH with what the script needs before its check, and none of the host tools.
    await sh(1, `mkdir -p /tmp/${bed.name}-path && for t in bash dirname sed head cat; do ln -sf "$(command -v $t)" /tmp/${bed.name}-path/; done`);
    const missing = await bed.exec(1, ['env', `PATH=/tmp/${bed.name}-path`, 'bash', `${ROOTFS}/kube-v1/scripts/init.sh`, ...v1.init]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^\[sealbuild\] error: missing host tools for kubernetes v1\.30\.4: conntrack ip iptables mount nsenter modprobe sysctl tar \(install them first/m);
    assert.equal(missing.stderr.split('\n').filter((l) => l.includes('error')).length, 1, 'one message');
    await sh(1, `rm -rf /tmp/${bed.name}-path`);
    assert.deepEqual(await listing(1), before1);
  });

  test('init.sh with the image\'s default init label: containerd from the image, the registry, the pause image pulled through it, the pod network applied, the node Ready', async () => {
    await scriptOk(1, 'kube-v1', 'init.sh', v1.init, env);
    assert.match(await sh(1, 'ctr -n sealbuild tasks ls'), /sealbuild-registry\s+\d+\s+RUNNING/);
    assert.match(await sh(1, 'cat /etc/hosts'), registryHostsLine);
    // kubeadm's image pull went through the mirror: registry.k8s.io is unreachable from here.
    assert.match(await sh(1, 'ctr -n k8s.io images ls -q'), /^registry\.k8s\.io\/pause:3\.9$/m);
    await waitFor('node 1 Ready', async () => new RegExp(`${bed.name}-1\\s+Ready\\s+control-plane\\s+v1\\.30\\.4`).test(await sh(1, 'kubectl get nodes')));
    const flannel = await sh(1, 'cat /run/testbed-shared/cluster/applied/kube-flannel.yaml');
    assert.match(flannel, /"Network": "10\.244\.0\.0\/16"/);
    assert.match(flannel, /image: docker\.io\/flannel\/flannel:v0\.25\.6/);
  });

  test('a worker joins with kubeadm\'s join command and --registry-ip', async () => {
    const join = await sh(1, 'kubeadm token create --print-join-command');
    const [, token, hash] = /--token (\S+) --discovery-token-ca-cert-hash (\S+)/.exec(join)!;
    await scriptOk(2, 'kube-v1', 'init.sh', ['join', '--control-plane-endpoint', `${bed.ip(1)}:6443`, '--token', token!, '--discovery-token-ca-cert-hash', hash!, '--registry-ip', bed.ip(1)], env);
    await waitFor('node 2 Ready', async () => new RegExp(`${bed.name}-2\\s+Ready\\s+<none>\\s+v1\\.30\\.4`).test(await sh(1, 'kubectl get nodes')));
  });

  test('upgrade.sh: kubeadm upgrade apply on the first control plane, upgrade node on the worker, then the new kubelets', async () => {
    const worker = await script(2, 'kube-v2', 'upgrade.sh', ['join'], env);
    assert.equal(worker.code, 1, 'a node cannot go first: kubeadm upgrade node needs the upgraded control plane');
    await scriptOk(1, 'kube-v2', 'upgrade.sh', ['init', '--with-registry'], env);
    await scriptOk(2, 'kube-v2', 'upgrade.sh', ['join'], env);
    await waitFor('both nodes at v1.30.5', async () => {
      const nodes = await sh(1, 'kubectl get nodes');
      return new RegExp(`${bed.name}-1\\s+Ready\\s+\\S+\\s+v1\\.30\\.5`).test(nodes) && new RegExp(`${bed.name}-2\\s+Ready\\s+\\S+\\s+v1\\.30\\.5`).test(nodes);
    });
    assert.match(await sh(1, 'cat /run/testbed-shared/cluster/calls.log'), new RegExp(`${bed.name}-1: kubeadm upgrade apply v1\\.30\\.5 --yes[\\s\\S]*${bed.name}-2: kubeadm upgrade node`));
  });

  test('delete.sh node NAME, delete.sh leave (kubeadm reset) and clean.sh: host 2 as before', async () => {
    await scriptOk(1, 'kube-v2', 'delete.sh', ['node', `${bed.name}-2`]);
    assert.doesNotMatch(await sh(1, 'kubectl get nodes'), new RegExp(`${bed.name}-2`));
    await scriptOk(2, 'kube-v2', 'delete.sh', ['leave']);
    assert.match(await sh(1, 'cat /run/testbed-shared/cluster/calls.log'), new RegExp(`${bed.name}-2: kubeadm reset --force`));
    await scriptOk(2, 'kube-v2', 'clean.sh', []);
    assert.deepEqual(await leftovers(2), { processes: '', mounts: '' });
    assert.deepEqual(await listing(2), before2);
  });

  test('clean.sh: registry, kubeadm reset, containerd and its shims, mounts and files gone; host 1 as before', async () => {
    assert.notEqual((await leftovers(1)).processes, '', 'containerd, the registry and the sandbox run before clean.sh');
    await scriptOk(1, 'kube-v2', 'clean.sh', []);
    assert.deepEqual(await leftovers(1), { processes: '', mounts: '' });
    assert.deepEqual(await listing(1), before1);
  });
});

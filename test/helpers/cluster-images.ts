import { cp, mkdir, readFile, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO, removeDir, run, sealbuildOk, tempDir } from './cli.js';
import { fakeBinary, type FakeTool } from './fakes.js';
import { serveReleases, sha256, tarGz } from './releases.js';
import { sharedFixture } from './fixtures.js';
import type { TestBed } from './testbed.js';

/*
 * ClusterImages for the installer's tests, built by sealbuild from basefs/ with the fake
 * cluster binaries (test/fixtures/fakes) in place of the release downloads, a real registry
 * image (basefs/registry-image.sh --offline: Debian's registry binary) and a pause image the
 * nodes pull through the registry mirror. Each is built once per run (fixtures.ts).
 */

export type RuntimeName = 'k3s' | 'k0s' | 'kubernetes';

/** The sandbox image each fake pulls through the mirror (see the fakes). */
const PAUSE_IMAGES: Record<RuntimeName, string> = {
  k3s: 'docker.io/rancher/mirrored-pause:3.6',
  k0s: 'quay.io/k0sproject/pause:3.10.1',
  kubernetes: 'registry.k8s.io/pause:3.9',
};

/** A runnable stand-in for a pause image: sleep and the libraries it needs, as /pause. */
async function pauseArchive(root: string, work: string, name: string): Promise<string> {
  const ctx = join(work, 'pause-ctx');
  for (const dir of ['lib64', 'lib/x86_64-linux-gnu']) await mkdir(join(ctx, 'rootfs', dir), { recursive: true });
  await copyFile('/bin/sleep', join(ctx, 'rootfs/pause'));
  await copyFile('/lib64/ld-linux-x86-64.so.2', join(ctx, 'rootfs/lib64/ld-linux-x86-64.so.2'));
  await copyFile('/lib/x86_64-linux-gnu/libc.so.6', join(ctx, 'rootfs/lib/x86_64-linux-gnu/libc.so.6'));
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY rootfs/ /\n');
  await sealbuildOk(root, ['build', '-t', name, '--platform', 'linux/amd64', ctx]);
  const archive = join(work, `pause-${name.replace(/[^a-z0-9]+/g, '-')}.tar`);
  await sealbuildOk(root, ['save', name, '-o', archive]);
  return archive;
}

/**
 * The kubernetes Kubefile's downloads besides kubeadm, kubelet and kubectl: containerd and runc
 * are this machine's (Debian's), real as on the other runtimes' hosts; crictl and CNI are stubs.
 */
export async function addKubernetesDependencies(add: (path: string, content: Buffer, arg: string) => void): Promise<void> {
  add('/runc/v1.1.13/runc.amd64', await readFile('/usr/sbin/runc'), 'RUNC_SHA256_amd64');
  const containerd = await tarGz({
    'bin/containerd': await readFile('/usr/bin/containerd'),
    'bin/containerd-shim-runc-v2': await readFile('/usr/bin/containerd-shim-runc-v2'),
    'bin/ctr': await readFile('/usr/bin/ctr'),
  });
  add('/containerd/v1.7.22/containerd-1.7.22-linux-amd64.tar.gz', containerd, 'CONTAINERD_SHA256_amd64');
  add('/crictl/v1.30.0/crictl-v1.30.0-linux-amd64.tar.gz', await tarGz({ crictl: Buffer.from('#!/bin/sh\necho "crictl: not on the test bed" >&2\nexit 1\n') }), 'CRICTL_SHA256_amd64');
  const plugin = Buffer.from('#!/bin/sh\nexit 0\n');
  add('/cni/v1.4.0/cni-plugins-linux-amd64-v1.4.0.tgz', await tarGz({ bridge: plugin, loopback: plugin, portmap: plugin }), 'CNI_SHA256_amd64');
}

/** The release files of `runtime`'s Kubefile for amd64: fakes for the binaries, stubs for the rest. */
async function releases(runtime: RuntimeName, version: string): Promise<{ files: Map<string, Buffer>; args: string[] }> {
  const files = new Map<string, Buffer>();
  const args: string[] = [];
  const add = (path: string, content: Buffer, arg: string) => {
    files.set(path, content);
    args.push('--build-arg', `${arg}=${sha256(content)}`);
  };
  const fake = (tool: FakeTool) => fakeBinary(tool, version);
  if (runtime === 'k3s') {
    add(`/k3s/${version}/k3s`, await fake('k3s'), 'K3S_SHA256_amd64');
    add(`/k3s/${version}/k3s-airgap-images-amd64.tar.zst`, Buffer.from('no airgap images in the fake\n'), 'K3S_IMAGES_SHA256_amd64');
    args.push('--build-arg', `VERSION=${version}`);
  } else if (runtime === 'k0s') {
    add(`/k0s/${version}/k0s-${version}-amd64`, await fake('k0s'), 'K0S_SHA256_amd64');
    args.push('--build-arg', `VERSION=${version}`);
  } else {
    for (const bin of ['kubeadm', 'kubelet', 'kubectl'] as const) add(`/kube/${version}/bin/linux/amd64/${bin}`, await fake(bin), `${bin.toUpperCase()}_SHA256_amd64`);
    await addKubernetesDependencies(add);
    args.push('--build-arg', `VERSION=${version}`);
  }
  return { files, args };
}

/**
 * images/registry.tar.gz as basefs/registry-image.sh --offline makes it (the script the README
 * tells users about): a runnable registry image of Debian's registry binary. Made once per run.
 */
export async function registryImageArchive(): Promise<string> {
  const dir = await sharedFixture('registry-image', async (dir) => {
    run('bash', [join(REPO, 'basefs', 'registry-image.sh'), '--offline', dir]);
  });
  return join(dir, 'images', 'registry.tar.gz');
}

/**
 * basefs/<runtime> for linux/amd64 as `tag`, with the fakes reporting `version`, loaded into the
 * store `root`. The image is built once per run (sharedFixture: the same bytes every time, since
 * builds are reproducible) and saved as an OCI layout that each store loads. Returns the tag.
 */
export async function buildClusterImage(root: string, runtime: RuntimeName, version: string, tag: string): Promise<string> {
  const image = await sharedFixture(`cluster-image-${runtime}-${version}-${tag.replace(/[^A-Za-z0-9.-]+/g, '_')}`, async (dir) => {
    const work = join(dir, 'work');
    const store = join(work, 'root');
    const ctx = join(work, 'ctx');
    await cp(join(REPO, 'basefs', runtime), ctx, { recursive: true });
    await mkdir(join(ctx, 'images'), { recursive: true });
    await copyFile(await registryImageArchive(), join(ctx, 'images', 'registry.tar.gz'));
    // The system images upstream publishes cannot be fetched here: the pause image stands for them.
    if (runtime !== 'k3s') await writeFile(join(ctx, 'manifests', 'imageList'), '');
    const pause = await pauseArchive(store, work, PAUSE_IMAGES[runtime]);
    const list = join(work, 'images.txt');
    await writeFile(list, `oci-archive:${pause}:${PAUSE_IMAGES[runtime]}\n`);
    const { files, args } = await releases(runtime, version);
    const server = await serveReleases(files);
    try {
      const base = server.url;
      const locations = { k3s: ['K3S_RELEASES=k3s'], k0s: ['K0S_RELEASES=k0s'], kubernetes: ['KUBE_RELEASES=kube', 'RUNC_RELEASES=runc', 'CONTAINERD_RELEASES=containerd', 'CRICTL_RELEASES=crictl', 'CNI_RELEASES=cni'] }[runtime];
      await sealbuildOk(store, ['build', '-t', tag, '--platform', 'linux/amd64', ...locations.flatMap((l) => ['--build-arg', l.replace('=', `=${base}/`)]), ...args, '--image-list', list, ctx]);
    } finally {
      await server.close();
    }
    await sealbuildOk(store, ['save', tag, '--format', 'oci-dir', '-o', join(dir, 'image')]);
    await removeDir(work);
  });
  await sealbuildOk(root, ['load', '-i', join(image, 'image')]);
  return tag;
}

/**
 * Points host i's fake cluster binaries at `cluster`, the "cluster" they share through the
 * test bed's shared directory (a shell word: `k3s-$(hostname)` gives each host its own).
 */
export async function useFakeCluster(bed: TestBed, i: number, cluster: string): Promise<void> {
  await bed.sh(i, `printf 'FAKE_CLUSTER=/run/testbed-shared/%s\\nFAKE_LOG=/run/fakes.log\\n' "${cluster}" > /etc/sealbuild-fakes.env`);
}

/**
 * Hosts 1..n of a fresh `bed` (whatever an earlier run left is taken down first) whose fakes
 * share `cluster`; returns their addresses and each host's listing from before any install.
 */
async function fakeClusterHosts(bed: TestBed, n: number, cluster: string): Promise<{ ips: string[]; before: Map<number, string> }> {
  await bed.down();
  const ips = await bed.up(n);
  const before = new Map<number, string>();
  for (let i = 1; i <= n; i++) {
    await useFakeCluster(bed, i, cluster);
    before.set(i, await bed.listing(i));
  }
  return { ips, before };
}

/**
 * What an install test file starts from: a scratch store, `n` hosts with their listings
 * (fakeClusterHosts, sharing the runtime's "cluster") and `runtime`'s image built at each
 * `version` as its `tag`.
 */
export async function installHosts(bed: TestBed, n: number, runtime: RuntimeName, images: { version: string; tag: string }[]): Promise<{ work: string; root: string; ips: string[]; before0: Map<number, string> }> {
  const work = await tempDir();
  const root = join(work, 'root');
  const { ips, before } = await fakeClusterHosts(bed, n, runtime);
  for (const { version, tag } of images) await buildClusterImage(root, runtime, version, tag);
  return { work, root, ips, before0: before };
}

/** Takes down what installHosts made, as far as it got. */
export async function removeInstallHosts(bed: TestBed, work: string | undefined): Promise<void> {
  await bed.down();
  if (work !== undefined) await removeDir(work);
}

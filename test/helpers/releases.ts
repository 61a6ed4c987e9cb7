import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { elfIdentFor } from '../../src/runtime/elf.js';

/**
 * A minimal ELF file for `arch`: a 64-byte header with the machine, class and byte order a
 * real binary of that architecture has, then a marker naming it. Enough for anything that
 * reads ELF headers; not runnable.
 */
export function elfStub(arch: string, name: string): Buffer {
  const ident = elfIdentFor(arch);
  if (!ident) throw new Error(`no ELF identity for ${arch}`);
  const header = Buffer.alloc(64);
  header.write('\x7fELF', 0, 'latin1');
  header[4] = ident.bits === 64 ? 2 : 1;
  header[5] = ident.endian === 'little' ? 1 : 2;
  header[6] = 1; // EV_CURRENT
  const u16 = (value: number, at: number) => (ident.endian === 'little' ? header.writeUInt16LE(value, at) : header.writeUInt16BE(value, at));
  u16(2, 16); // ET_EXEC
  u16(ident.machine, 18);
  return Buffer.concat([header, Buffer.from(`stub ${name} for ${arch}\n`)]);
}

/** A gzip-compressed tar of `files` (path -> content, mode 0755), like a release tarball. */
export async function tarGz(files: Record<string, Buffer>): Promise<Buffer> {
  const tar = pack();
  for (const [name, content] of Object.entries(files)) tar.entry({ name, mode: 0o755, mtime: new Date(0) }, content);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar as AsyncIterable<Buffer>) chunks.push(chunk);
  return gzipSync(Buffer.concat(chunks));
}

export function sha256(content: Buffer): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

/** A local HTTP server standing in for upstream release downloads; records what was asked. */
export interface ReleaseServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

export async function serveReleases(files: Map<string, Buffer>): Promise<ReleaseServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const body = files.get(path);
    if (!body) {
      res.writeHead(404).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const ARCHES = ['amd64', 'arm64'] as const;

/**
 * The release files each basefs Kubefile downloads, as stubs for amd64 and arm64, and the
 * --build-arg values that point the Kubefile at `base` with the stubs' checksums (its real
 * defaults stay as they are).
 */
export async function basefsReleases(runtime: 'k3s' | 'k0s' | 'kubernetes'): Promise<{ files: Map<string, Buffer>; buildArgs: (base: string) => string[] }> {
  const files = new Map<string, Buffer>();
  const args: [string, string][] = [];
  const add = (release: string, path: string, content: Buffer, checksumArg: string) => {
    files.set(`/${release}${path}`, content);
    args.push([checksumArg, sha256(content)]);
  };
  for (const arch of ARCHES) {
    if (runtime === 'k3s') {
      add('k3s', `/v1.34.2+k3s1/${arch === 'amd64' ? 'k3s' : 'k3s-arm64'}`, elfStub(arch, 'k3s'), `K3S_SHA256_${arch}`);
      add('k3s', `/v1.34.2+k3s1/k3s-airgap-images-${arch}.tar.zst`, Buffer.from(`airgap images for ${arch}\n`), `K3S_IMAGES_SHA256_${arch}`);
    } else if (runtime === 'k0s') {
      add('k0s', `/v1.34.3+k0s.0/k0s-v1.34.3+k0s.0-${arch}`, elfStub(arch, 'k0s'), `K0S_SHA256_${arch}`);
    } else {
      for (const bin of ['kubeadm', 'kubelet', 'kubectl']) add('kube', `/v1.30.4/bin/linux/${arch}/${bin}`, elfStub(arch, bin), `${bin.toUpperCase()}_SHA256_${arch}`);
      add('runc', `/v1.1.13/runc.${arch}`, elfStub(arch, 'runc'), `RUNC_SHA256_${arch}`);
      add('containerd', `/v1.7.22/containerd-1.7.22-linux-${arch}.tar.gz`, await tarGz({ 'bin/containerd': elfStub(arch, 'containerd'), 'bin/ctr': elfStub(arch, 'ctr') }), `CONTAINERD_SHA256_${arch}`);
      add('crictl', `/v1.30.0/crictl-v1.30.0-linux-${arch}.tar.gz`, await tarGz({ crictl: elfStub(arch, 'crictl') }), `CRICTL_SHA256_${arch}`);
      add('cni', `/v1.4.0/cni-plugins-linux-${arch}-v1.4.0.tgz`, await tarGz({ bridge: elfStub(arch, 'bridge'), loopback: elfStub(arch, 'loopback') }), `CNI_SHA256_${arch}`);
    }
  }
  const releases: Record<typeof runtime, string[]> = {
    k3s: ['K3S_RELEASES=k3s'],
    k0s: ['K0S_RELEASES=k0s'],
    kubernetes: ['KUBE_RELEASES=kube', 'RUNC_RELEASES=runc', 'CONTAINERD_RELEASES=containerd', 'CRICTL_RELEASES=crictl', 'CNI_RELEASES=cni'],
  };
  return {
    files,
    buildArgs: (base) => [
      ...releases[runtime].map((pair) => pair.replace('=', `=${base}/`)),
      ...args.map(([k, v]) => `${k}=${v}`),
    ].flatMap((pair) => ['--build-arg', pair]),
  };
}

import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { digestHex, type Digest } from '../oci/digest.js';
import { formatPlatform, normalizePlatform, samePlatform, type Platform } from '../oci/platform.js';
import { parseMetadata, type Metadata } from '../runtime/metadata.js';
import { contentOf, type LayerView } from '../runtime/layer-view.js';
import type { ResolvedImage, StoredTarget } from '../store/image.js';
import type { Store } from '../store/store.js';
import { UsageError, UserError } from '../util/errors.js';
import { mapLimit } from '../util/limit.js';
import { HostError, run, shellLine, shellQuote, type ExecResult, type Host } from '../hosts/host.js';
import { KnownHosts } from '../hosts/known-hosts.js';
import { LocalHost } from '../hosts/local.js';
import { SshHost } from '../hosts/ssh.js';
import type { SshSpec } from './clusterfile.js';
import { ROOTFS_BASE, deliverRootfs, hostRootfsDir, storedImageView } from './deliver.js';
import { since, type Node, type RuntimeContext } from './runtime.js';
import { clusterDir, writeClusterState, type ClusterState, type HostState } from './state.js';

/** Hosts worked on at once (connect, deliver, join workers, reset). */
const PARALLEL_HOSTS = 8;
/** A script (install, join, upgrade, clean) that has not finished after this long has failed. */
const SCRIPT_TIMEOUT_MS = 15 * 60_000;
/** Sending a rootfs to one host. */
const DELIVERY_TIMEOUT_MS = 60 * 60_000;

/** How to reach hosts: the flags' SSH settings (secrets included) and the host-key policy. */
export interface AccessOptions {
  ssh: SshSpec;
  insecureHostKeys: boolean;
  knownHostsFile?: string;
}

/** One platform image of a ClusterImage, with what the installer reads from it. */
export interface PlatformImage {
  image: ResolvedImage;
  view: LayerView;
  metadata: Metadata;
  hex: string;
}

/**
 * Reads each platform's Metadata; refuses (exit 2) an image without one or without a cluster
 * runtime, and platforms that disagree on the runtime.
 */
export async function platformImages(store: Store, target: StoredTarget, shown: string): Promise<PlatformImage[]> {
  const out: PlatformImage[] = [];
  for (const image of target.images) {
    const view = await storedImageView(store, image, `image ${shown} (${formatPlatform(image.platform)})`);
    const facts = view.get('Metadata');
    const bytes = facts && contentOf(facts);
    if (!bytes) throw new UsageError(`image "${shown}" (${formatPlatform(image.platform)}) has no Metadata: it is not a ClusterImage`, 'build it from a basefs (`sealbuild init --runtime k3s DIR`) or a ClusterImage');
    let metadata: Metadata;
    try {
      metadata = parseMetadata(bytes, `${shown} (${formatPlatform(image.platform)}) Metadata`);
    } catch (err) {
      throw new UsageError((err as UserError).message, 'the image declares no usable cluster runtime: rebuild it with `sealbuild build`');
    }
    out.push({ image, view, metadata, hex: digestHex(image.descriptor.digest as Digest) });
  }
  if (out.length === 0) throw new UsageError(`image "${shown}" holds no platform image in the store`, 'pull it with --all-platforms');
  const runtimes = new Set(out.map((p) => p.metadata.clusterRuntime));
  if (runtimes.size > 1) throw new UsageError(`image "${shown}" has platforms with different cluster runtimes (${[...runtimes].join(', ')})`, 'one ClusterImage installs one runtime');
  return out;
}

const UNAME_ARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', arm64: 'arm64', armv7l: 'arm', ppc64le: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loongarch64: 'loong64' };

/**
 * The connections and bookkeeping of one command on one cluster: hosts opened once, state
 * written after each phase, per-host logs under ROOT/clusters/NAME/logs.
 */
export class Session {
  private readonly hosts = new Map<string, Host>();
  private knownHosts: KnownHosts | undefined;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly store: Store,
    readonly state: ClusterState,
    private readonly access: AccessOptions,
    private readonly knownHostsFile: string,
    private readonly logDir: string,
  ) {}

  static async open(store: Store, state: ClusterState, access: AccessOptions): Promise<Session> {
    const logDir = join(clusterDir(store.root, state.name), 'logs');
    await mkdir(logDir, { recursive: true, mode: 0o700 });
    const knownHostsFile = access.knownHostsFile ?? join(homedir(), '.ssh', 'known_hosts');
    const session = new Session(store, state, access, knownHostsFile, logDir);
    if (!access.insecureHostKeys) session.knownHosts = await KnownHosts.load(knownHostsFile);
    return session;
  }

  logFile(ip: string): string {
    return join(this.logDir, `${ip}.log`);
  }

  host(hs: HostState): Host {
    let host = this.hosts.get(hs.ip);
    if (host) return host;
    if (hs.ip === 'local') {
      if (process.getuid?.() !== 0) throw new UserError('installing on `local` needs root', { hint: 'run sealbuild as root (sudo)' });
      host = new LocalHost(this.logFile('local'));
    } else {
      const s = { ...this.state.ssh, ...this.access.ssh, ...hs.ssh };
      const auth = {
        user: s.user ?? 'root',
        port: s.port ?? 22,
        privateKeyFile: s.pk ?? join(homedir(), '.ssh', 'id_rsa'),
        ...(s.passwd !== undefined ? { password: s.passwd } : {}),
        ...(s.pkPasswd !== undefined ? { privateKeyPassphrase: s.pkPasswd } : {}),
      };
      host = new SshHost(hs.ip, { auth, knownHosts: this.knownHosts, knownHostsFile: this.knownHostsFile, logFile: this.logFile(hs.ip) });
    }
    this.hosts.set(hs.ip, host);
    return host;
  }

  node(hs: HostState): Node {
    return { host: this.host(hs), state: hs };
  }

  /** Writes the state; calls are serialised so parallel hosts never interleave writes. */
  save(): Promise<void> {
    this.writing = this.writing.then(() => writeClusterState(this.store.root, this.state));
    return this.writing;
  }

  parallel<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
    return mapLimit(items, PARALLEL_HOSTS, fn).then(() => undefined);
  }

  /** Connects to every node and reads its platform and name (`uname -m`, `hostname`). */
  async probe(nodes: Node[]): Promise<void> {
    await this.parallel(nodes, async (node) => {
      const result = await run(node.host, 'connect', 'uname -m && hostname', { timeoutMs: 60_000 });
      const [machine = '', name = ''] = result.stdout.trim().split('\n');
      const arch = UNAME_ARCH[machine.trim()];
      if (!arch) throw new HostError(node.state.ip, 'connect', `unknown machine type "${machine}"`);
      node.state.platform = formatPlatform(normalizePlatform({ os: 'linux', architecture: arch }));
      node.state.nodeName = name.trim();
      progress(node.state.ip, 'connect', `${node.state.platform}, node ${node.state.nodeName}`);
    });
  }

  /** The platform image for a node; a usage error when the image has none for its platform. */
  imageFor(node: Node, images: PlatformImage[], shown: string): PlatformImage {
    const [os = 'linux', architecture = ''] = (node.state.platform ?? '').split('/');
    const wanted: Platform = { os, architecture };
    const match = images.find((p) => samePlatform(normalizePlatform(p.image.platform), normalizePlatform(wanted)));
    if (!match) throw new UsageError(`${node.state.ip} is ${node.state.platform}, but image "${shown}" has only ${images.map((p) => formatPlatform(p.image.platform)).join(', ')}`, 'build the image for that platform too (--platform)');
    return match;
  }

  /** Delivers each node's platform rootfs (skipped where present) and records it. */
  async deliver(nodes: Node[], images: PlatformImage[], shown: string, record: boolean): Promise<void> {
    const chosen = nodes.map((node) => ({ node, image: this.imageFor(node, images, shown) }));
    await this.parallel(chosen, async ({ node, image }) => {
      const started = Date.now();
      const sent = await deliverRootfs(node.host, this.store, image.image, image.view, DELIVERY_TIMEOUT_MS);
      progress(node.state.ip, 'deliver', sent ? `rootfs ${image.hex.slice(0, 12)} sent in ${since(started)}` : `rootfs ${image.hex.slice(0, 12)} already there`);
      if (!record) return;
      node.state.rootfs = image.hex;
      node.state.phase ??= 'delivered';
      await this.save();
    });
  }

  /** The context a runtime acts through. */
  context(first: Node): RuntimeContext {
    return {
      cluster: this.state,
      first,
      script: (node, phase, name, args, rootfs) => this.script(node, phase, name, args, rootfs),
      shell: (node, phase, command, timeoutMs = SCRIPT_TIMEOUT_MS) => run(node.host, phase, command, { timeoutMs, logHint: `see ${this.logFile(node.state.ip)}` }),
      record: async (node, phase) => {
        if (phase === 'installed') node.state.phase = 'installed';
        else {
          await this.removeDelivered(node, node.state.rootfs ? [node.state.rootfs] : []);
          this.state.hosts = this.state.hosts.filter((h) => h.ip !== node.state.ip);
        }
        await this.save();
      },
      parallel: (nodes, fn) => this.parallel(nodes, fn),
      progress: (node, phase, text) => progress(node.state.ip, phase, text),
    };
  }

  private async script(node: Node, phase: string, name: string, args: string[], rootfs = node.state.rootfs): Promise<ExecResult> {
    if (!rootfs) throw new HostError(node.state.ip, phase, 'no rootfs was delivered to this host');
    const dir = hostRootfsDir(rootfs);
    const { domain, port } = this.state.registry;
    const env: Record<string, string> = { REGISTRY_DOMAIN: domain, REGISTRY_PORT: String(port), ...this.state.env, SEALBUILD_ROOTFS: dir };
    const words = ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'bash', `${dir}/scripts/${name}`, ...args];
    // Only the script and its role word: the other arguments may carry the join token.
    const shown = [name, ...args.slice(0, 1).filter((a) => !a.startsWith('-'))].join(' ');
    const started = Date.now();
    progress(node.state.ip, phase, `${shown}: started`);
    const result = await run(node.host, phase, `cd ${shellQuote(dir)} && ${shellLine(words)}`, { timeoutMs: SCRIPT_TIMEOUT_MS, logHint: `see ${this.logFile(node.state.ip)}` });
    progress(node.state.ip, phase, `${shown}: done in ${since(started)}`);
    return result;
  }

  /** Removes what delivery put on a node: its rootfs trees and the installer's directory when empty. */
  async removeDelivered(node: Node, hexes: string[]): Promise<void> {
    const paths = hexes.flatMap((hex) => [hostRootfsDir(hex), `${ROOTFS_BASE}/.${hex}.partial`]);
    await run(node.host, 'clean', `rm -rf ${paths.map(shellQuote).join(' ')} /var/lib/sealbuild/k0s-tokens && { rmdir ${ROOTFS_BASE} /var/lib/sealbuild 2>/dev/null || true; }`);
  }

  async close(): Promise<void> {
    await Promise.all([...this.hosts.values()].map((h) => h.close()));
    await this.writing;
  }
}

/**
 * One progress line on stderr, `HOST: PHASE: text`, the shape of the one-line errors, so a
 * failure reads as the last line of its phase; stdout keeps only the final table.
 */
function progress(ip: string, phase: string, text: string): void {
  process.stderr.write(`${ip}: ${phase}: ${text}\n`);
}

/** A new cluster's join secret. */
export function newToken(): string {
  return randomBytes(24).toString('hex');
}

import { HostError, type ExecResult, type Host } from '../hosts/host.js';
import type { ClusterState, HostState } from './state.js';

/** One host of the cluster as a runtime sees it: the connection and what is recorded of it. */
export interface Node {
  host: Host;
  state: HostState;
}

/**
 * What the driver gives a runtime: the facts (cluster state, first master, registry address)
 * and the one way to act on a host, running a script of the image's rootfs there.
 */
export interface RuntimeContext {
  readonly cluster: ClusterState;
  /** The first master: it inits the cluster and serves the registry. */
  readonly first: Node;
  /**
   * Runs scripts/NAME of the node's delivered rootfs (or `rootfs`, a digest hex) with the
   * image's registry settings and the cluster's env; fails naming the host and the phase.
   */
  script(node: Node, phase: string, name: string, args: string[], rootfs?: string): Promise<ExecResult>;
  /** Runs a shell command on the node (reading what a script wrote); fails naming the host and the phase, or after timeoutMs. */
  shell(node: Node, phase: string, command: string, timeoutMs?: number): Promise<ExecResult>;
  /** Records that the node completed `installed` (after its join) or left the cluster. */
  record(node: Node, phase: 'installed' | 'removed'): Promise<void>;
  /** Runs fn over the nodes, a bounded number at a time. */
  parallel(nodes: Node[], fn: (node: Node) => Promise<void>): Promise<void>;
  /** One progress line on stderr: `HOST: PHASE: text`. */
  progress(node: Node, phase: string, text: string): void;
}

/** How long the driver waits for nodes to turn Ready: SEALBUILD_WAIT_SECONDS of the cluster's env (the scripts' own wait), else 300 s. */
export function waitSeconds(cluster: ClusterState): number {
  const given = Number(cluster.env['SEALBUILD_WAIT_SECONDS']);
  return Number.isInteger(given) && given > 0 ? given : 300;
}

/**
 * Each node name's STATUS in `kubectl get nodes` output (a header line, then NAME STATUS ...);
 * Ready when STATUS has the word Ready (`Ready,SchedulingDisabled` too).
 */
export function nodeStatuses(listing: string): Map<string, string> {
  const statuses = new Map<string, string>();
  for (const line of listing.split('\n').slice(1)) {
    const [name, status] = line.trim().split(/\s+/);
    if (name && status) statuses.set(name, status);
  }
  return statuses;
}

/** Seconds since `started`, for progress lines. */
export function since(started: number): string {
  return `${((Date.now() - started) / 1000).toFixed(1)}s`;
}

function isReady(status: string | undefined): boolean {
  return status !== undefined && status.split(',').includes('Ready');
}

/**
 * A cluster runtime's driver, as sealer has one runtime implementation per cluster
 * runtime, chosen from Metadata.clusterRuntime. Implementations only choose which of the image's
 * scripts (basefs/<runtime>/scripts) to run where, with which facts; how the runtime is
 * installed is the scripts' business.
 */
export interface Runtime {
  /** Installs the first master and starts the registry on it. */
  init(ctx: RuntimeContext): Promise<void>;
  /** Joins masters one at a time, then workers in parallel. */
  join(ctx: RuntimeContext, masters: Node[], workers: Node[]): Promise<void>;
  /** Takes nodes out of the cluster (drain and remove, from the first master) and cleans them. */
  delete(ctx: RuntimeContext, nodes: Node[]): Promise<void>;
  /** Cleans every node: workers, then masters, the first master last. */
  reset(ctx: RuntimeContext, nodes: Node[]): Promise<void>;
  /** Runs the new rootfs' upgrade.sh: the first master, the other masters one at a time, then workers. */
  upgrade(ctx: RuntimeContext, nodes: Node[], rootfs: (node: Node) => string): Promise<void>;
  /** Waits until every node that registers a Node object is Ready, as the first master's kubectl sees it; fails after waitSeconds. */
  waitReady(ctx: RuntimeContext, nodes: Node[]): Promise<void>;
}

/** The role words a runtime's scripts use for the first master, other masters and workers. */
export interface ScriptRoles {
  first: string;
  master: string;
  worker: string;
}

/** The shared order of phases; a runtime supplies the arguments of its scripts. */
export abstract class ScriptRuntime implements Runtime {
  protected abstract readonly roles: ScriptRoles;
  /** init.sh's arguments on the first master (the registry runs there). */
  protected abstract initArgs(ctx: RuntimeContext): string[];
  /** Reads what joining needs from the first master, after init (into ctx.cluster.join). */
  protected async afterInit(_ctx: RuntimeContext): Promise<void> {}
  /** init.sh's arguments on a joining node. */
  protected abstract joinArgs(ctx: RuntimeContext, node: Node): Promise<string[]>;
  /** The first master's kubectl, as a shell command prefix. */
  protected abstract readonly kubectl: string;
  /** Whether the node runs a kubelet, so registers a Node (a k0s controller alone does not). */
  protected registersNode(_ctx: RuntimeContext, _node: Node): boolean {
    return true;
  }

  roleOf(ctx: RuntimeContext, node: Node): string {
    if (node.state.ip === ctx.first.state.ip) return this.roles.first;
    return node.state.role === 'master' ? this.roles.master : this.roles.worker;
  }

  protected registryIp(ctx: RuntimeContext): string {
    return ctx.first.state.ip === 'local' ? '127.0.0.1' : ctx.first.state.ip;
  }

  /** Whether the node serves the registry: the first master, or every master with registryHA. */
  protected runsRegistry(ctx: RuntimeContext, node: Node): boolean {
    return node.state.ip === ctx.first.state.ip || (ctx.cluster.registryHA === true && node.state.role === 'master');
  }

  /**
   * --registry-ip for a node: the first master; with registryHA every master, the node itself
   * first when it serves one, so its pulls stay local while its registry is up.
   */
  protected registryIps(ctx: RuntimeContext, node: Node): string {
    if (!ctx.cluster.registryHA) return this.registryIp(ctx);
    const masters = ctx.cluster.hosts.filter((h) => h.role === 'master').map((h) => h.ip);
    const ordered = masters.includes(node.state.ip) ? [node.state.ip, ...masters.filter((ip) => ip !== node.state.ip)] : masters;
    return ordered.join(',');
  }

  async init(ctx: RuntimeContext): Promise<void> {
    await ctx.script(ctx.first, 'init', 'init.sh', [this.roles.first, ...this.initArgs(ctx), '--registry-ip', this.registryIps(ctx, ctx.first), '--with-registry']);
    await this.afterInit(ctx);
    await ctx.record(ctx.first, 'installed');
  }

  async join(ctx: RuntimeContext, masters: Node[], workers: Node[]): Promise<void> {
    const joinOne = async (node: Node) => {
      const registry = this.runsRegistry(ctx, node) ? ['--with-registry'] : [];
      await ctx.script(node, 'join', 'init.sh', [this.roleOf(ctx, node), ...(await this.joinArgs(ctx, node)), '--registry-ip', this.registryIps(ctx, node), ...registry]);
      await ctx.record(node, 'installed');
    };
    for (const node of masters) await joinOne(node);
    await ctx.parallel(workers, joinOne);
  }

  async delete(ctx: RuntimeContext, nodes: Node[]): Promise<void> {
    for (const node of nodes) {
      if (node.state.phase === 'installed' && node.state.nodeName) {
        await ctx.script(ctx.first, 'delete', 'delete.sh', ['node', node.state.nodeName]);
        await ctx.script(node, 'delete', 'delete.sh', ['leave']);
      }
      if (node.state.rootfs) await ctx.script(node, 'clean', 'clean.sh', []);
      await ctx.record(node, 'removed');
    }
  }

  async reset(ctx: RuntimeContext, nodes: Node[]): Promise<void> {
    const clean = async (node: Node) => {
      if (node.state.rootfs) await ctx.script(node, 'reset', 'clean.sh', []);
      await ctx.record(node, 'removed');
    };
    await ctx.parallel(nodes.filter((n) => n.state.role === 'node'), clean);
    for (const node of nodes.filter((n) => n.state.role === 'master' && n.state.ip !== ctx.first.state.ip)) await clean(node);
    for (const node of nodes.filter((n) => n.state.ip === ctx.first.state.ip)) await clean(node);
  }

  async upgrade(ctx: RuntimeContext, nodes: Node[], rootfs: (node: Node) => string): Promise<void> {
    const upgradeOne = async (node: Node) => {
      const args = [this.roleOf(ctx, node)];
      if (this.runsRegistry(ctx, node)) args.push('--with-registry');
      await ctx.script(node, 'upgrade', 'upgrade.sh', args, rootfs(node));
    };
    const first = nodes.filter((n) => n.state.ip === ctx.first.state.ip);
    const masters = nodes.filter((n) => n.state.role === 'master' && n.state.ip !== ctx.first.state.ip);
    for (const node of [...first, ...masters]) await upgradeOne(node);
    await ctx.parallel(nodes.filter((n) => n.state.role === 'node'), upgradeOne);
  }

  async waitReady(ctx: RuntimeContext, nodes: Node[]): Promise<void> {
    const names = nodes.filter((n) => this.registersNode(ctx, n)).map((n) => n.state.nodeName ?? n.state.ip);
    if (names.length === 0) return;
    const seconds = waitSeconds(ctx.cluster);
    const started = Date.now();
    ctx.progress(ctx.first, 'ready', `waiting up to ${seconds}s for ${names.length} node(s) to be Ready: ${names.join(', ')}`);
    let statuses = new Map<string, string>();
    let failed = '';
    for (;;) {
      try {
        statuses = nodeStatuses((await ctx.shell(ctx.first, 'ready', `${this.kubectl} get nodes`, 30_000)).stdout);
        failed = '';
      } catch (err) {
        // The API may not answer yet right after a start: that is what the wait is for.
        failed = (err as Error).message;
      }
      if (names.every((n) => isReady(statuses.get(n)))) break;
      if (Date.now() - started > seconds * 1000) {
        const late = names.filter((n) => !isReady(statuses.get(n))).map((n) => `${n} (${statuses.get(n) ?? 'not registered'})`);
        throw new HostError(ctx.first.state.ip, 'ready', `not Ready after ${seconds}s: ${late.join(', ')}${failed ? `; last kubectl: ${failed}` : ''}`, `\`${this.kubectl} get nodes\` on ${ctx.first.state.ip} and the node's kubelet log; --env SEALBUILD_WAIT_SECONDS=N waits longer`);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    ctx.progress(ctx.first, 'ready', `${names.length} node(s) Ready in ${since(started)}`);
  }
}

import { shellQuote } from '../hosts/host.js';
import { ScriptRuntime, type Node, type RuntimeContext } from './runtime.js';

/** Where join tokens live on hosts: under the installer's own directory, which reset removes. */
const TOKENS_DIR = '/var/lib/sealbuild/k0s-tokens';

/**
 * k0s (basefs/k0s/scripts): the first controller also runs a worker (`--enable-worker`; alone,
 * `--single`), because the registry runs in k0s' containerd, which a bare controller lacks.
 * init.sh writes the join tokens into --tokens-dir; the driver copies the right one to each
 * joining node, whose k0s service keeps reading it from there.
 */
export class K0sRuntime extends ScriptRuntime {
  protected readonly roles = { first: 'controller', master: 'controller', worker: 'worker' };
  protected readonly kubectl = 'k0s kubectl';

  /** A controller runs a kubelet when it runs a worker: the first one (initArgs) and, with registryHA, every one (joinArgs). */
  protected override registersNode(ctx: RuntimeContext, node: Node): boolean {
    return node.state.role === 'node' || this.runsRegistry(ctx, node);
  }

  protected initArgs(ctx: RuntimeContext): string[] {
    const single = ctx.cluster.hosts.length === 1;
    return [single ? '--single' : '--enable-worker', '--tokens-dir', TOKENS_DIR];
  }

  protected override async afterInit(ctx: RuntimeContext): Promise<void> {
    for (const role of ['worker', 'controller']) {
      const read = await ctx.shell(ctx.first, 'init', `cat ${TOKENS_DIR}/${role}-token`);
      ctx.cluster.join[`${role}-token`] = read.stdout.trim();
    }
  }

  protected async joinArgs(ctx: RuntimeContext, node: Node): Promise<string[]> {
    const role = node.state.role === 'master' ? 'controller' : 'worker';
    const file = `${TOKENS_DIR}/${role}-token`;
    const token = ctx.cluster.join[`${role}-token`] ?? '';
    await ctx.shell(node, 'join', `mkdir -p ${TOKENS_DIR} && umask 077 && printf '%s\\n' ${shellQuote(token)} > ${file}`);
    // The registry runs in k0s' containerd, which only a controller with a worker has.
    return [...(role === 'controller' && this.runsRegistry(ctx, node) ? ['--enable-worker'] : []), '--token-file', file];
  }
}

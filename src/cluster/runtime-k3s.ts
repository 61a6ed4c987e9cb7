import { ScriptRuntime, type Node, type RuntimeContext } from './runtime.js';

/**
 * k3s (basefs/k3s/scripts): the first server starts the cluster with the token the driver
 * made (k3s accepts a chosen token on the first server); with embedded etcd (`--cluster-init`)
 * unless a datastore is given, so servers can be added later. Others join with `--server`.
 */
export class K3sRuntime extends ScriptRuntime {
  protected readonly roles = { first: 'server', master: 'server', worker: 'agent' };
  protected readonly kubectl = 'k3s kubectl';

  protected initArgs(ctx: RuntimeContext): string[] {
    const { datastore, token } = ctx.cluster;
    return ['--token', token, ...(datastore ? ['--datastore-endpoint', datastore] : ['--cluster-init'])];
  }

  protected async joinArgs(ctx: RuntimeContext, node: Node): Promise<string[]> {
    const { datastore, token } = ctx.cluster;
    const args = ['--server', `https://${this.registryIp(ctx)}:6443`, '--token', token];
    if (node.state.role === 'master' && datastore) args.push('--datastore-endpoint', datastore);
    return args;
  }
}

import { HostError } from '../hosts/host.js';
import { ScriptRuntime, type Node, type RuntimeContext } from './runtime.js';

/**
 * kubeadm (basefs/kubernetes/scripts). init.sh does not hand out join credentials, so after
 * init the driver asks the first master's kubeadm for them, as kubeadm documents
 * (`kubeadm token create --print-join-command`; for control planes `kubeadm init phase
 * upload-certs --upload-certs`, whose last line is the certificate key).
 */
export class KubernetesRuntime extends ScriptRuntime {
  protected readonly roles = { first: 'init', master: 'join-control-plane', worker: 'join' };
  protected readonly kubectl = 'kubectl --kubeconfig /etc/kubernetes/admin.conf';

  protected initArgs(ctx: RuntimeContext): string[] {
    const endpoint = ctx.cluster.controlPlaneEndpoint;
    return endpoint ? ['--control-plane-endpoint', endpoint] : [];
  }

  protected override async afterInit(ctx: RuntimeContext): Promise<void> {
    const printed = await ctx.shell(ctx.first, 'init', 'kubeadm token create --print-join-command --kubeconfig /etc/kubernetes/admin.conf');
    const line = printed.stdout.trim().split('\n').at(-1) ?? '';
    const endpoint = /^kubeadm join (\S+)/.exec(line)?.[1];
    const token = /--token (\S+)/.exec(line)?.[1];
    const hash = /--discovery-token-ca-cert-hash (\S+)/.exec(line)?.[1];
    if (!endpoint || !token || !hash) throw new HostError(ctx.first.state.ip, 'init', `kubeadm printed no join command ("${line}")`);
    Object.assign(ctx.cluster.join, { endpoint, token, hash });
    if (ctx.cluster.hosts.some((h) => h.role === 'master' && h.ip !== ctx.first.state.ip)) {
      const certs = await ctx.shell(ctx.first, 'init', 'kubeadm init phase upload-certs --upload-certs --kubeconfig /etc/kubernetes/admin.conf');
      ctx.cluster.join['certificate-key'] = certs.stdout.trim().split('\n').at(-1) ?? '';
    }
  }

  protected async joinArgs(ctx: RuntimeContext, node: Node): Promise<string[]> {
    const join = ctx.cluster.join;
    const args = ['--control-plane-endpoint', join['endpoint'] ?? '', '--token', join['token'] ?? '', '--discovery-token-ca-cert-hash', join['hash'] ?? ''];
    if (node.state.role === 'master') args.push('--certificate-key', join['certificate-key'] ?? '');
    return args;
  }
}

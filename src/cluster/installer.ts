import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readTarget, type StoredTarget } from '../store/image.js';
import type { Store } from '../store/store.js';
import { UsageError, UserError } from '../util/errors.js';
import type { ClusterSpec, HostSpec, SshSpec } from './clusterfile.js';
import { runtimeFor } from './runtimes.js';
import type { Node } from './runtime.js';
import { Session, newToken, platformImages, type AccessOptions } from './session.js';
import { clusterDir, readClusterState, type ClusterState, type HostState } from './state.js';

/** SSH settings as they are recorded: never a password or key passphrase. */
function publicSsh(ssh: SshSpec): SshSpec {
  const { passwd: _p, pkPasswd: _k, ...rest } = ssh;
  return rest;
}

function hostState(spec: HostSpec): HostState {
  return { ip: spec.ip, role: spec.role, ssh: publicSsh(spec.ssh) };
}

/** The first master: it inits the cluster and serves the registry; it never changes. */
function firstMaster(session: Session): Node {
  const first = session.state.hosts.find((h) => h.role === 'master');
  if (!first) throw new UserError(`cluster "${session.state.name}" has no master left`, { hint: 'reset it and run it again' });
  return session.node(first);
}

async function requireCluster(store: Store, name: string): Promise<ClusterState> {
  const state = await readClusterState(store.root, name);
  if (!state) throw new UsageError(`there is no cluster "${name}" in ${store.root}`, '`sealbuild run IMAGE --masters ...` installs one; `sealbuild status` lists what is installed');
  return state;
}

function checkKubeadmMasters(state: ClusterState): void {
  if (state.runtime === 'kubernetes' && state.hosts.filter((h) => h.role === 'master').length > 1 && !state.controlPlaneEndpoint) {
    throw new UsageError('kubeadm with more than one master needs a control-plane endpoint', 'set spec.controlPlaneEndpoint in the Clusterfile (a load balancer or VIP in front of the masters, HOST:6443)');
  }
}

async function withSession<T>(store: Store, state: ClusterState, access: AccessOptions, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await Session.open(store, state, access);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/**
 * `run`: deliver, registry + first master, other masters one at a time, workers in parallel.
 * A cluster that exists with the same image and hosts is resumed: hosts already installed are
 * skipped, delivery is skipped where the rootfs is present.
 */
export async function runCluster(store: Store, spec: ClusterSpec, target: StoredTarget, access: AccessOptions): Promise<ClusterState> {
  const images = await platformImages(store, target, spec.image);
  const metadata = images[0]!.metadata;
  let state = await readClusterState(store.root, spec.name);
  if (state) {
    if (state.target.digest !== target.descriptor.digest) {
      throw new UsageError(`cluster "${spec.name}" is installed from ${state.image} (${state.target.digest})`, '`sealbuild upgrade IMAGE` changes its image; `sealbuild reset` removes it; --cluster NAME installs another');
    }
    const known = new Map(state.hosts.map((h) => [h.ip, h.role]));
    const changed = spec.hosts.find((h) => known.get(h.ip) !== h.role) ?? (spec.hosts.length !== state.hosts.length ? spec.hosts[0] : undefined);
    if (changed) throw new UsageError(`cluster "${spec.name}" exists with other hosts`, 'use `sealbuild add` / `sealbuild delete` to change its hosts');
  } else {
    // Masters first, in the order given: the first one inits the cluster.
    const ordered = [...spec.hosts.filter((h) => h.role === 'master'), ...spec.hosts.filter((h) => h.role === 'node')];
    state = {
      version: 1,
      name: spec.name,
      image: spec.image,
      target: target.descriptor,
      runtime: metadata.clusterRuntime,
      registry: metadata.registry,
      ssh: publicSsh(spec.ssh),
      env: spec.env,
      token: newToken(),
      join: {},
      hosts: ordered.map(hostState),
    };
    if (spec.datastore !== undefined) state.datastore = spec.datastore;
    if (spec.controlPlaneEndpoint !== undefined) state.controlPlaneEndpoint = spec.controlPlaneEndpoint;
    if (spec.registryHA) state.registryHA = true;
  }
  checkKubeadmMasters(state);
  const cluster = state;
  await withSession(store, cluster, access, async (session) => {
    const nodes = cluster.hosts.map((h) => session.node(h));
    await session.probe(nodes);
    for (const node of nodes) session.imageFor(node, images, spec.image);
    await session.deliver(nodes, images, spec.image, true);
    const first = firstMaster(session);
    const runtime = runtimeFor(cluster.runtime);
    const ctx = session.context(first);
    if (first.state.phase !== 'installed') await runtime.init(ctx);
    const pending = nodes.filter((n) => n !== first && n.state.ip !== first.state.ip && n.state.phase !== 'installed');
    await runtime.join(ctx, pending.filter((n) => n.state.role === 'master'), pending.filter((n) => n.state.role === 'node'));
    await runtime.waitReady(ctx, nodes);
  });
  return cluster;
}

/** `add`: new hosts join the cluster (a host already added but not installed is resumed). */
export async function addHosts(store: Store, name: string, hosts: HostSpec[], access: AccessOptions): Promise<ClusterState> {
  const state = await requireCluster(store, name);
  for (const h of hosts) {
    const known = state.hosts.find((k) => k.ip === h.ip);
    if (known && (known.phase === 'installed' || known.role !== h.role)) throw new UsageError(`${h.ip} is already a ${known.role} of cluster "${name}"`, '`sealbuild status` lists its hosts');
    if (!known) state.hosts.push(hostState(h));
  }
  checkKubeadmMasters(state);
  const images = await platformImages(store, await readTarget(store, state.target), state.image);
  await withSession(store, state, access, async (session) => {
    const first = firstMaster(session);
    const nodes = hosts.map((h) => session.node(state.hosts.find((k) => k.ip === h.ip)!));
    await session.probe(nodes);
    for (const node of nodes) session.imageFor(node, images, state.image);
    await session.deliver(nodes, images, state.image, true);
    const runtime = runtimeFor(state.runtime);
    const ctx = session.context(first);
    await runtime.join(ctx, nodes.filter((n) => n.state.role === 'master'), nodes.filter((n) => n.state.role === 'node'));
    await runtime.waitReady(ctx, nodes);
  });
  return state;
}

/** `delete`: drain and remove each host from the cluster, clean it, forget it. */
export async function deleteHosts(store: Store, name: string, ips: string[], access: AccessOptions): Promise<ClusterState> {
  const state = await requireCluster(store, name);
  const first = state.hosts.find((h) => h.role === 'master');
  for (const ip of ips) {
    if (!state.hosts.some((h) => h.ip === ip)) throw new UsageError(`${ip} is not a host of cluster "${name}"`, '`sealbuild status` lists its hosts');
    if (ip === first?.ip) throw new UsageError(`${ip} is the first master: it holds the registry and cannot be deleted`, '`sealbuild reset` removes the whole cluster');
  }
  await withSession(store, state, access, async (session) => {
    const nodes = ips.map((ip) => session.node(state.hosts.find((h) => h.ip === ip)!));
    await runtimeFor(state.runtime).delete(session.context(firstMaster(session)), nodes);
  });
  return state;
}

/** `upgrade`: the new image's rootfs to every host, then its upgrade.sh in the runtime's order. */
export async function upgradeCluster(store: Store, name: string, ref: string, target: StoredTarget, access: AccessOptions): Promise<ClusterState> {
  const state = await requireCluster(store, name);
  const images = await platformImages(store, target, ref);
  const metadata = images[0]!.metadata;
  if (metadata.clusterRuntime !== state.runtime) throw new UsageError(`image "${ref}" installs ${metadata.clusterRuntime}, but cluster "${name}" runs ${state.runtime}`, 'upgrade to an image of the same cluster runtime');
  await withSession(store, state, access, async (session) => {
    const nodes = state.hosts.map((h) => session.node(h));
    await session.probe(nodes);
    const chosen = new Map(nodes.map((n) => [n.state.ip, session.imageFor(n, images, ref).hex]));
    await session.deliver(nodes, images, ref, false);
    const runtime = runtimeFor(state.runtime);
    const ctx = session.context(firstMaster(session));
    await runtime.upgrade(ctx, nodes, (n) => chosen.get(n.state.ip)!);
    await runtime.waitReady(ctx, nodes);
    const old = new Map(nodes.map((n) => [n.state.ip, n.state.rootfs]));
    state.image = ref;
    state.target = target.descriptor;
    state.registry = metadata.registry;
    for (const node of nodes) node.state.rootfs = chosen.get(node.state.ip)!;
    await session.save();
    await session.parallel(nodes, async (node) => {
      const previous = old.get(node.state.ip);
      if (previous && previous !== node.state.rootfs) await session.removeDelivered(node, [previous]);
    });
  });
  return state;
}

/** `reset`: clean every host (workers, masters, the first master last) and forget the cluster. */
export async function resetCluster(store: Store, name: string, access: AccessOptions): Promise<void> {
  const state = await requireCluster(store, name);
  await withSession(store, state, access, async (session) => {
    const nodes = state.hosts.map((h) => session.node(h));
    if (nodes.length > 0) await runtimeFor(state.runtime).reset(session.context(firstMaster(session)), nodes);
  });
  await rm(join(clusterDir(store.root, name), 'cluster.json'), { force: true });
}

/**
 * The cluster runtimes a ClusterImage can carry and what each needs in its rootfs to be
 * installable (formats.md §5, §6). Everything else about a runtime lives in its basefs/
 * context and templates/.
 */
export const CLUSTER_RUNTIMES = ['kubernetes', 'k0s', 'k3s'] as const;
export type ClusterRuntime = (typeof CLUSTER_RUNTIMES)[number];

export function isClusterRuntime(value: string): value is ClusterRuntime {
  return (CLUSTER_RUNTIMES as readonly string[]).includes(value);
}

/** Labels sealer and sealos read (formats.md §4), by the name sealbuild uses for them. */
export const Label = {
  runtimeType: 'cluster.alpha.sealer.io/cluster-runtime-type',
  runtimeVersion: 'cluster.alpha.sealer.io/cluster-runtime-version',
  containerRuntimeType: 'cluster.alpha.sealer.io/container-runtime-type',
  kubeVersion: 'app.alpha.sealer.io/supported-kube-version',
  sealosDistribution: 'sealos.io.distribution',
  sealosType: 'sealos.io.type',
  sealosVersion: 'version',
} as const;

/** A file the runtime's installer needs. */
export interface RequiredFile {
  path: string;
  executable: boolean;
}

const COMMON: RequiredFile[] = [
  { path: 'scripts/init.sh', executable: true },
  { path: 'scripts/clean.sh', executable: true },
  { path: 'scripts/init-registry.sh', executable: true },
];

/** Where the registry container image is: verify checks it is a loadable image archive. */
export const REGISTRY_IMAGE_PATH = 'images/registry.tar.gz';

/**
 * Marks an `images/registry.tar.gz` that is not the registry image, so a context can be built
 * without network access (basefs/registry-image.sh --placeholder); verify refuses it.
 */
export const REGISTRY_PLACEHOLDER_MARKER = 'SEALBUILD-PLACEHOLDER';

export const RUNTIME_FILES: Record<ClusterRuntime, RequiredFile[]> = {
  k3s: [...COMMON, { path: 'bin/k3s', executable: true }],
  k0s: [...COMMON, { path: 'bin/k0s', executable: true }],
  kubernetes: [...COMMON, ...['kubeadm', 'kubelet', 'kubectl'].map((b) => ({ path: `bin/${b}`, executable: true }))],
};

/** k3s and k0s embed containerd; the kubernetes basefs ships it (cri/). */
export const DEFAULT_CONTAINER_RUNTIME: Record<ClusterRuntime, string> = { k3s: 'containerd', k0s: 'containerd', kubernetes: 'containerd' };

/** sealer's and sealos' default registry address for a ClusterImage (formats.md §3). */
export const DEFAULT_REGISTRY = { domain: 'sea.hub', port: 5000 };

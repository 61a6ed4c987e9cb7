/**
 * The cluster runtimes a ClusterImage can carry and what each needs in its rootfs to be
 * installable (docs/formats.md §5, §6). Everything else about a runtime lives in its basefs/
 * context and templates/.
 */
export const CLUSTER_RUNTIMES = ['kubernetes', 'k0s', 'k3s'] as const;
export type ClusterRuntime = (typeof CLUSTER_RUNTIMES)[number];

export function isClusterRuntime(value: string): value is ClusterRuntime {
  return (CLUSTER_RUNTIMES as readonly string[]).includes(value);
}

/** Labels sealer and sealos read (docs/formats.md §4), by the name sealbuild uses for them. */
export const Label = {
  runtimeType: 'cluster.alpha.sealer.io/cluster-runtime-type',
  runtimeVersion: 'cluster.alpha.sealer.io/cluster-runtime-version',
  containerRuntimeType: 'cluster.alpha.sealer.io/container-runtime-type',
  kubeVersion: 'app.alpha.sealer.io/supported-kube-version',
  sealosDistribution: 'sealos.io.distribution',
  sealosType: 'sealos.io.type',
  sealosVersion: 'version',
  /** The image format version sealos requires on rootfs images (not the runtime's version). */
  sealosImageVersion: 'sealos.io.version',
  // The newer names sealos reads as well (lifecycle/pkg/types/v1beta1/cluster.go, GroupName apps.sealos.io).
  sealosDistributionV2: 'apps.sealos.io/distribution',
  sealosTypeV2: 'apps.sealos.io/type',
  sealosImageVersionV2: 'apps.sealos.io/version',
} as const;

/**
 * The image format versions sealos accepts on a rootfs image (ImageVersionList); it refuses
 * one without (lifecycle/pkg/apply/processor/interface.go, MountClusterImages).
 */
export const SEALOS_IMAGE_VERSIONS = ['v1beta1', 'v1beta2'];

/**
 * Executables the runtime's installer needs, besides Metadata and the registry image: the
 * scripts `sealbuild run` calls on the nodes (their arguments: basefs/README.md).
 */
const SCRIPTS = ['scripts/init.sh', 'scripts/upgrade.sh', 'scripts/delete.sh', 'scripts/clean.sh', 'scripts/init-registry.sh'];

/**
 * Small files sealos and sealer read from the rootfs (docs/rootfs-contract.md): the layer scan
 * keeps their bytes so `verify --contract` can check them.
 */
export const UPSTREAM_CONTRACT_FILES = ['etc/registry.yml', 'etc/kubeadm.yml', 'statics/audit-policy.yml'] as const;

/** Where the registry container image is: verify checks it is a loadable image archive. */
export const REGISTRY_IMAGE_PATH = 'images/registry.tar.gz';

/**
 * Marks an `images/registry.tar.gz` that is not the registry image, so a context can be built
 * without network access (basefs/registry-image.sh --placeholder); verify refuses it.
 */
export const REGISTRY_PLACEHOLDER_MARKER = 'SEALBUILD-PLACEHOLDER';

export const RUNTIME_EXECUTABLES: Record<ClusterRuntime, string[]> = {
  k3s: [...SCRIPTS, 'bin/k3s'],
  k0s: [...SCRIPTS, 'bin/k0s'],
  kubernetes: [...SCRIPTS, 'bin/kubeadm', 'bin/kubelet', 'bin/kubectl'],
};

/** k3s and k0s embed containerd; the kubernetes basefs ships it (cri/). */
export const DEFAULT_CONTAINER_RUNTIME: Record<ClusterRuntime, string> = { k3s: 'containerd', k0s: 'containerd', kubernetes: 'containerd' };

/** sealer's and sealos' default registry address for a ClusterImage (docs/formats.md §3). */
export const DEFAULT_REGISTRY = { domain: 'sea.hub', port: 5000 };

import { z } from 'zod';
import { formatPlatform, normalizePlatform, type Platform } from '../oci/platform.js';
import { parseJson } from '../oci/schemas.js';
import { UserError } from '../util/errors.js';
import { CLUSTER_RUNTIMES, DEFAULT_CONTAINER_RUNTIME, DEFAULT_REGISTRY, Label, isClusterRuntime, type ClusterRuntime } from './runtimes.js';

/**
 * The `Metadata` file at the root of each platform's rootfs (docs/formats.md §5). Unknown fields
 * (old sealer's `NydusFlag`, `ClusterRuntime`) are kept, never required.
 */
export const MetadataSchema = z.looseObject({
  version: z.string().min(1),
  arch: z.string().min(1),
  variant: z.string(),
  kubeVersion: z.string().min(1),
  clusterRuntime: z.enum(CLUSTER_RUNTIMES),
  containerRuntime: z.string().min(1),
  registry: z.object({ domain: z.string().min(1), port: z.number().int().min(1).max(65535) }),
});
export type Metadata = z.infer<typeof MetadataSchema>;

/** The fields sealbuild derives, in the order it writes them. */
const FIELDS = ['version', 'arch', 'variant', 'kubeVersion', 'clusterRuntime', 'containerRuntime', 'registry'] as const;

/** Largest Metadata file read: it is a few hundred bytes; anything bigger is not one. */
export const MAX_METADATA_BYTES = 64 * 1024;

/** A version with any `+build` part removed: `v1.34.2+k3s1` -> `v1.34.2`. */
function kubernetesVersion(version: string): string {
  return version.replace(/\+.*$/, '');
}

const EXACT_VERSION = /^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$/;

/**
 * What the image's labels and environment say about its cluster runtime, or undefined when
 * it declares none (an application image, a plain OCI image). The runtime type comes from
 * sealer's label, else sealos' distribution label; conflicting values are caught by
 * mirrorLabels.
 */
export function declaredRuntime(labels: ReadonlyMap<string, string>): ClusterRuntime | undefined {
  const key = [Label.runtimeType, Label.sealosDistribution, Label.sealosDistributionV2].find((k) => labels.has(k));
  const value = key === undefined ? undefined : labels.get(key)!;
  if (value === undefined) return undefined;
  if (!isClusterRuntime(value)) {
    throw new UserError(`label ${key}=${value} is not a cluster runtime sealbuild knows`, { hint: `use one of ${CLUSTER_RUNTIMES.join(', ')}` });
  }
  return value;
}

/** The Metadata sealbuild writes for `platform`, all derived from labels and ENV. */
export function expectedMetadata(runtime: ClusterRuntime, labels: ReadonlyMap<string, string>, env: ReadonlyMap<string, string>, platform: Platform): Metadata {
  const kubeVersionLabel = labels.get(Label.kubeVersion);
  const version = labels.get(Label.runtimeVersion) ?? labels.get(Label.sealosVersion) ?? (kubeVersionLabel !== undefined && EXACT_VERSION.test(kubeVersionLabel) ? kubeVersionLabel : undefined);
  if (version === undefined) {
    throw new UserError(`the ${runtime} image for ${formatPlatform(platform)} declares no version`, { hint: `add LABEL ${Label.runtimeVersion}=<version> or KUBEVERSION v1.x.y to the Kubefile` });
  }
  const portText = env.get('REGISTRY_PORT') ?? String(DEFAULT_REGISTRY.port);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new UserError(`ENV REGISTRY_PORT=${portText} is not a port number`, { hint: 'set REGISTRY_PORT to 1-65535, e.g. ENV REGISTRY_PORT=5000' });
  }
  const normal = normalizePlatform(platform);
  return {
    version,
    arch: normal.architecture,
    variant: normal.variant ?? '',
    kubeVersion: kubeVersionLabel ?? kubernetesVersion(version),
    clusterRuntime: runtime,
    containerRuntime: labels.get(Label.containerRuntimeType) ?? DEFAULT_CONTAINER_RUNTIME[runtime],
    registry: { domain: env.get('REGISTRY_DOMAIN') ?? DEFAULT_REGISTRY.domain, port },
  };
}

/** The labels sealer and sealos read, with the values Metadata holds (docs/formats.md §4). */
export function mirroredLabels(metadata: Metadata): Map<string, string> {
  return new Map([
    [Label.runtimeType, metadata.clusterRuntime],
    [Label.runtimeVersion, metadata.version],
    [Label.containerRuntimeType, metadata.containerRuntime],
    [Label.kubeVersion, metadata.kubeVersion],
    [Label.sealosDistribution, metadata.clusterRuntime],
    [Label.sealosVersion, metadata.version],
  ]);
}

/** Metadata as written into the image: our fields in a fixed order, then any others kept. */
export function serializeMetadata(metadata: Metadata): Buffer {
  const ordered: Record<string, unknown> = {};
  for (const field of FIELDS) ordered[field] = metadata[field];
  for (const [key, value] of Object.entries(metadata)) if (!(key in ordered)) ordered[key] = value;
  return Buffer.from(`${JSON.stringify(ordered, null, 2)}\n`);
}

/** Parses a Metadata file; one line naming the first bad field when it is not valid. */
export function parseMetadata(bytes: Buffer, where: string): Metadata {
  return parseJson(MetadataSchema, bytes, where, { hint: `Metadata is a JSON object with ${FIELDS.join(', ')}; remove it from the context to let sealbuild write it` });
}

/** The first field where two Metadata differ, with both values; undefined when they agree. */
export function metadataDifference(found: Metadata, expected: Metadata): { field: string; found: string; expected: string } | undefined {
  for (const field of FIELDS) {
    const a = JSON.stringify(field === 'variant' ? comparableVariant(found) : found[field]);
    const b = JSON.stringify(field === 'variant' ? comparableVariant(expected) : expected[field]);
    if (a !== b) return { field, found: a, expected: b };
  }
  return undefined;
}

/** sealer writes `v8` for arm64, which containerd treats as no variant. */
function comparableVariant(m: Metadata): string {
  return normalizePlatform({ os: 'linux', architecture: m.arch, variant: m.variant === '' ? undefined : m.variant }).variant ?? '';
}

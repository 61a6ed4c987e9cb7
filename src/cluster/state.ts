import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DescriptorSchema, parseJson } from '../oci/schemas.js';
import { CLUSTER_RUNTIMES } from '../runtime/runtimes.js';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { ROLES, SshSchema } from './clusterfile.js';

/**
 * What is installed where: ROOT/clusters/NAME/cluster.json, written atomically (mode 0600: it
 * holds the join token) after every phase that succeeded on a host, never before. Passwords
 * are not kept: later commands take -p again.
 */
const PublicSshSchema = SshSchema.omit({ passwd: true, pkPasswd: true });

/** Phases a host has completed, in order. */
export const HOST_PHASES = ['delivered', 'installed'] as const;
export type HostPhase = (typeof HOST_PHASES)[number];

const HostStateSchema = z.object({
  ip: z.string(),
  role: z.enum(ROLES),
  ssh: PublicSshSchema,
  platform: z.string().optional(),
  /** The manifest digest (hex) of the platform image delivered: /var/lib/sealbuild/rootfs/<hex>. */
  rootfs: z.string().optional(),
  /** The name the cluster knows the host by (its hostname). */
  nodeName: z.string().optional(),
  phase: z.enum(HOST_PHASES).optional(),
});
export type HostState = z.infer<typeof HostStateSchema>;

const ClusterStateSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  /** The image as the user named it, and what it resolved to (index or manifest). */
  image: z.string(),
  target: DescriptorSchema,
  runtime: z.enum(CLUSTER_RUNTIMES),
  /** The image's registry (Metadata.registry): the scripts get it as REGISTRY_DOMAIN/PORT. */
  registry: z.object({ domain: z.string(), port: z.number().int() }),
  ssh: PublicSshSchema,
  env: z.record(z.string(), z.string()),
  datastore: z.string().optional(),
  controlPlaneEndpoint: z.string().optional(),
  /** The registry runs on every master (--registry-ha), not only the first. */
  registryHA: z.boolean().optional(),
  /** The cluster's join secret (k3s token; others keep theirs in `join`). */
  token: z.string(),
  /** Join facts a runtime read from the first master after init (k0s tokens, kubeadm credentials). */
  join: z.record(z.string(), z.string()),
  hosts: z.array(HostStateSchema),
});
export type ClusterState = z.infer<typeof ClusterStateSchema>;

export function clusterDir(storeRoot: string, name: string): string {
  return join(storeRoot, 'clusters', name);
}

export function checkClusterName(name: string): string {
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name)) throw new UserError(`--cluster "${name}" is not a valid cluster name`, { hint: 'use lower-case letters, digits, ".", "_" and "-"', exitCode: 2 });
  return name;
}

/** The recorded cluster, or undefined when none has that name. */
export async function readClusterState(storeRoot: string, name: string): Promise<ClusterState | undefined> {
  const file = join(clusterDir(storeRoot, name), 'cluster.json');
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!bytes) return undefined;
  return parseJson(ClusterStateSchema, bytes, `cluster state ${file}`, { hint: 'it is not a cluster state sealbuild wrote: restore it from a backup or remove it' });
}

export async function writeClusterState(storeRoot: string, state: ClusterState): Promise<void> {
  const dir = clusterDir(storeRoot, state.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(dir, 'cluster.json'), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { checkedDocument } from '../oci/schemas.js';
import { UsageError } from '../util/errors.js';

/**
 * The Clusterfile: sealer's `Cluster` document (apiVersion sealer.io/v2, kind Cluster;
 * sealer pkg/define/... types: spec.image, spec.ssh, spec.hosts[].ips/roles/ssh, spec.env),
 * with three fields of ours: `datastore` (k3s external datastore), `controlPlaneEndpoint`
 * (kubeadm with several masters) and `registryHA` (the registry on every master).
 * `-f Clusterfile` and the flags make the same document.
 */
const PortSchema = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().min(1).max(65535));

export const SshSchema = z.strictObject({
  user: z.string().min(1).optional(),
  passwd: z.string().optional(),
  pk: z.string().min(1).optional(),
  pkPasswd: z.string().optional(),
  port: PortSchema.optional(),
});
export type SshSpec = z.infer<typeof SshSchema>;

export const ROLES = ['master', 'node'] as const;
export type Role = (typeof ROLES)[number];

const HostsSchema = z.strictObject({
  ips: z.array(z.string()).min(1),
  roles: z.array(z.string()).min(1),
  ssh: SshSchema.optional(),
  env: z.array(z.string()).optional(),
});

export const ClusterfileSchema = z.strictObject({
  apiVersion: z.enum(['sealer.io/v2', 'sealbuild.io/v1']),
  kind: z.literal('Cluster'),
  metadata: z.strictObject({ name: z.string().min(1).optional() }).optional(),
  spec: z.strictObject({
    image: z.string().min(1).optional(),
    ssh: SshSchema.optional(),
    hosts: z.array(HostsSchema).min(1),
    env: z.array(z.string()).optional(),
    datastore: z.string().min(1).optional(),
    controlPlaneEndpoint: z.string().min(1).optional(),
    registryHA: z.boolean().optional(),
  }),
});
export type Clusterfile = z.infer<typeof ClusterfileSchema>;

/** One host of the cluster as the installer uses it. */
export interface HostSpec {
  ip: string;
  role: Role;
  /** Overrides of the cluster's ssh settings for this host. */
  ssh: SshSpec;
}

/** What a Clusterfile (or the flags) asks for, checked. */
export interface ClusterSpec {
  name: string;
  image: string;
  ssh: SshSpec;
  hosts: HostSpec[];
  env: Record<string, string>;
  datastore?: string;
  controlPlaneEndpoint?: string;
  /** The registry on every master, every host resolving its domain to all of them. */
  registryHA?: boolean;
}

/** Parses and checks a Clusterfile's text; errors are usage errors naming the file and field. */
export function parseClusterfile(text: string, file: string, image?: string): ClusterSpec {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid YAML (${(err as Error).message.split('\n')[0]})`, 'a Clusterfile is a YAML document with kind: Cluster');
  }
  const doc = checkedDocument(ClusterfileSchema, value, file, { hint: 'see README "From image to running cluster" for the Clusterfile fields', exitCode: 2 });
  const hosts: HostSpec[] = [];
  for (const [i, group] of doc.spec.hosts.entries()) {
    const role = roleOf(group.roles, `${file}: spec.hosts.${i}.roles`);
    for (const ip of group.ips) hosts.push({ ip: checkAddress(ip, `${file}: spec.hosts.${i}.ips`), role, ssh: group.ssh ?? {} });
  }
  // The command's IMAGE argument, when given, overrides spec.image; one of them names the image.
  const named = image ?? doc.spec.image;
  if (named === undefined) throw new UsageError(`${file}: no spec.image, and no IMAGE argument`, 'name the image as the first argument, or in the Clusterfile as spec.image');
  const spec: ClusterSpec = {
    name: doc.metadata?.name ?? 'default',
    image: named,
    ssh: doc.spec.ssh ?? {},
    hosts,
    env: parseEnv(doc.spec.env ?? [], `${file}: spec.env`),
  };
  if (doc.spec.datastore !== undefined) spec.datastore = doc.spec.datastore;
  if (doc.spec.controlPlaneEndpoint !== undefined) spec.controlPlaneEndpoint = doc.spec.controlPlaneEndpoint;
  if (doc.spec.registryHA !== undefined) spec.registryHA = doc.spec.registryHA;
  checkHosts(spec.hosts, file);
  return spec;
}

function roleOf(roles: string[], where: string): Role {
  const known = roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r));
  const unknown = roles.find((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown !== undefined) throw new UsageError(`${where}: unknown role "${unknown}"`, `roles are ${ROLES.join(' or ')}`);
  if (new Set(known).size > 1) throw new UsageError(`${where}: a host is a master or a node, not both`, 'k3s servers and k0s controllers with --enable-worker run workloads anyway');
  return known[0]!;
}

/** An IPv4/IPv6 address or `local` (this machine); anything else is a usage error. */
export function checkAddress(text: string, where: string): string {
  if (text === 'local' || isIP(text) !== 0) return text;
  throw new UsageError(`${where}: "${text}" is not an IP address`, 'give IPv4 or IPv6 addresses, comma separated (or `local` for this machine)');
}

/** `--masters 10.0.0.1,10.0.0.2` -> addresses; a usage error names the flag. */
export function parseAddressList(text: string, flag: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => checkAddress(s, flag));
}

/** `K=V` lines (spec.env, --env) into a map; a usage error names the bad one. */
export function parseEnv(pairs: string[], where: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UsageError(`${where}: "${pair}" is not NAME=VALUE`, 'write NAME=VALUE, e.g. --env REGISTRY_PORT=5000');
    env[key] = pair.slice(eq + 1);
  }
  return env;
}

/** At least one master; no address twice. */
export function checkHosts(hosts: HostSpec[], where: string): void {
  if (!hosts.some((h) => h.role === 'master')) throw new UsageError(`${where}: no master`, 'give at least one master (--masters or a hosts entry with roles: [master])');
  const seen = new Set<string>();
  for (const h of hosts) {
    if (seen.has(h.ip)) throw new UsageError(`${where}: ${h.ip} is given twice`, 'each host has one role');
    seen.add(h.ip);
  }
  if (hosts.some((h) => h.ip === 'local') && hosts.length > 1) throw new UsageError(`${where}: \`local\` is for a one-host cluster`, 'give every host of a larger cluster by its address');
}

import { parseAllDocuments } from 'yaml';
import type { Metadata } from './metadata.js';
import { contentOf, resolvePath, type LayerView } from './layer-view.js';
import { Label, SEALOS_IMAGE_VERSIONS, UPSTREAM_CONTRACT_FILES, type ClusterRuntime } from './runtimes.js';
import type { Finding, ImageDeclarations } from './findings.js';

/**
 * What sealos and sealer read from a ClusterImage's rootfs to install a cluster, checked
 * line by line of docs/rootfs-contract.md (where each rule's upstream path is). `sealbuild
 * verify --contract sealos,sealer` runs these after sealbuild's own contract.
 */
export const UPSTREAM_TOOLS = ['sealos', 'sealer'] as const;
export type UpstreamTool = (typeof UPSTREAM_TOOLS)[number];

export function isUpstreamTool(value: string): value is UpstreamTool {
  return (UPSTREAM_TOOLS as readonly string[]).includes(value);
}

/** What the checks are given: the rootfs, the image config (absent for a directory), its Metadata. */
export interface ContractSubject {
  view: LayerView;
  declared: ImageDeclarations | undefined;
  metadata: Metadata | undefined;
  runtime: ClusterRuntime | undefined;
}

type Report = (subject: string, message: string) => void;

export function verifyUpstream(tool: UpstreamTool, subject: ContractSubject): Finding[] {
  const findings: Finding[] = [];
  const ok: Report = (s, m) => findings.push({ ok: true, subject: `${tool}: ${s}`, message: m });
  const fail: Report = (s, m) => findings.push({ ok: false, subject: `${tool}: ${s}`, message: m });
  if (tool === 'sealos') checkSealos(subject, ok, fail);
  else checkSealer(subject, ok, fail);
  return findings;
}

/** sealos' label names for one fact: the v1beta1 name first, then apps.sealos.io/ (ImageTypeKeys etc.). */
function sealosLabel(labels: ReadonlyMap<string, string>, keys: string[]): { key: string; value: string } | undefined {
  const key = keys.find((k) => labels.has(k));
  return key === undefined ? undefined : { key, value: labels.get(key)! };
}

/** The labels naming scripts, each run as `cd ROOTFS/scripts && bash VALUE` (lifecycle/pkg/constants/bash.go). */
const SEALOS_SCRIPT_LABELS = ['check', 'init', 'clean', 'init-registry', 'clean-registry'];
/** Run only when set. */
const SEALOS_OPTIONAL_SCRIPT_LABELS = ['init-cri', 'clean-cri'];
const SEALOS_DISTRIBUTIONS: ClusterRuntime[] = ['kubernetes', 'k3s'];
/** The fields of sealos' RegistryConfig (lifecycle/pkg/types/v1beta1/cluster.go), all strings. */
const REGISTRY_YML_FIELDS = ['ip', 'domain', 'port', 'username', 'password', 'data'];

function checkSealos({ view, declared, metadata, runtime }: ContractSubject, ok: Report, fail: Report): void {
  if (runtime !== undefined && !SEALOS_DISTRIBUTIONS.includes(runtime)) {
    fail('distribution', `${runtime}: sealos installs only ${SEALOS_DISTRIBUTIONS.join(' and ')} (lifecycle/pkg/runtime/factory/factory.go)`);
    return;
  }
  if (!declared) {
    fail('labels', 'a rootfs directory carries no labels, and sealos reads its scripts from them: verify the image instead');
  } else {
    const labels = declared.labels;
    const type = sealosLabel(labels, [Label.sealosType, Label.sealosTypeV2]);
    if (type?.value === 'rootfs') ok(type.key, 'rootfs');
    else fail(type?.key ?? Label.sealosType, `${type ? `is "${type.value}"` : 'missing'}: sealos mounts a cluster image only when it is "rootfs"`);
    const version = sealosLabel(labels, [Label.sealosImageVersion, Label.sealosImageVersionV2]);
    if (version && SEALOS_IMAGE_VERSIONS.includes(version.value)) ok(version.key, version.value);
    else fail(version?.key ?? Label.sealosImageVersion, `${version ? `is "${version.value}"` : 'missing'}: sealos refuses a rootfs image without ${SEALOS_IMAGE_VERSIONS.join(' or ')} (lifecycle/pkg/apply/processor/interface.go)`);
    const kube = labels.get(Label.sealosVersion);
    if (kube) ok(Label.sealosVersion, `${kube} (SEALOS_SYS_KUBE_VERSION)`);
    else fail(Label.sealosVersion, 'missing: sealos takes the Kubernetes version from it');
    for (const name of SEALOS_SCRIPT_LABELS) checkScriptLabel(view, name, labels.get(name) ?? `${name}.sh`, labels.has(name), ok, fail);
    for (const name of SEALOS_OPTIONAL_SCRIPT_LABELS) if (labels.has(name)) checkScriptLabel(view, name, labels.get(name)!, true, ok, fail);
  }
  checkRegistryYml(view, metadata, ok, fail);
  if (runtime === 'kubernetes') {
    checkKubeadmYml(view, undefined, ok, fail);
    checkAuditPolicy(view, ok, fail);
  }
}

/** A label's script: the first word of the value, a file of scripts/ (bash runs it: no mode needed). */
function checkScriptLabel(view: LayerView, name: string, value: string, set: boolean, ok: Report, fail: Report): void {
  const subject = `label ${name}`;
  const script = value.trim().split(/\s+/)[0] ?? '';
  if (script === '' || script.includes('$')) return fail(subject, `"${value}" names no script sealos can be checked to find (a variable or nothing)`);
  const path = `scripts/${script.replace(/^\.\//, '')}`;
  const target = resolvePath(view, path);
  const shown = set ? `"${value}"` : `not set: sealos runs "bash ${value}"`;
  if (!target || target.facts.type !== 'file') return fail(subject, `${shown}, but ${path} is ${view.has(path) ? 'not a regular file' : 'missing'}`);
  ok(subject, `${shown}: ${path}`);
}

function checkRegistryYml(view: LayerView, metadata: Metadata | undefined, ok: Report, fail: Report): void {
  const path = 'etc/registry.yml';
  const text = fileText(view, path);
  if (text === undefined) return fail(path, `missing: sealos then assumes sealos.hub:5000${metadata ? `, not this image's ${metadata.registry.domain}:${metadata.registry.port}` : ''}`);
  const docs = parseAllDocuments(text);
  const value = docs.length === 1 && docs[0]!.errors.length === 0 ? docs[0]!.toJS() : undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail(path, 'not one YAML map: sealos falls back to sealos.hub:5000');
  const fields = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const [key, field] of Object.entries(fields)) {
    if (!REGISTRY_YML_FIELDS.includes(key)) problems.push(`unknown field ${key}`);
    else if (typeof field !== 'string') problems.push(`${key} is not a string (quote it: sealos then drops the whole file for its defaults)`);
  }
  const str = (key: string) => (typeof fields[key] === 'string' ? (fields[key] as string) : '');
  // Read from the file, `data` has no default: sealos runs `rm -rf DATA && ln -s ROOTFS/registry DATA`.
  if (!str('data').startsWith('/')) problems.push('data must be an absolute path (sealos links the image\'s registry/ there and does not default it)');
  if ((str('username') === '') !== (str('password') === '')) problems.push('username and password go together');
  if (metadata) {
    const domain = str('domain') || 'sealos.hub';
    const port = str('port') || '5000';
    if (domain !== metadata.registry.domain || port !== String(metadata.registry.port)) {
      problems.push(`says ${domain}:${port}, but the image's registry (Metadata, ENV REGISTRY_DOMAIN/REGISTRY_PORT) is ${metadata.registry.domain}:${metadata.registry.port}`);
    }
  }
  if (problems.length > 0) fail(path, problems.join('; '));
  else ok(path, `${str('domain') || 'sealos.hub'}:${str('port') || '5000'}, data ${str('data')}`);
}

/**
 * etc/kubeadm.yml: kubeadm's documents. sealer takes the Kubernetes version from it
 * (`kubeVersion`); sealos sets the version itself (`undefined`).
 */
function checkKubeadmYml(view: LayerView, kubeVersion: string | undefined, ok: Report, fail: Report): void {
  const path = 'etc/kubeadm.yml';
  const text = fileText(view, path);
  if (text === undefined) return fail(path, 'missing: kubeadm\'s configuration for the cluster');
  const docs = parseAllDocuments(text);
  const kinds: string[] = [];
  let version: unknown;
  for (const doc of docs) {
    const value = doc.errors.length === 0 ? doc.toJS() : undefined;
    if (value === null || typeof value !== 'object' || typeof value.kind !== 'string' || typeof value.apiVersion !== 'string') {
      return fail(path, `document ${kinds.length + 1} is not a Kubernetes object (apiVersion and kind)`);
    }
    kinds.push(value.kind);
    if (value.kind === 'ClusterConfiguration') version = value.kubernetesVersion;
  }
  if (!kinds.includes('ClusterConfiguration')) return fail(path, `no ClusterConfiguration (has ${kinds.join(', ') || 'nothing'})`);
  if (kubeVersion !== undefined && version !== kubeVersion) {
    return fail(path, `ClusterConfiguration.kubernetesVersion is ${version === undefined ? 'missing' : String(version)}, but the image is kubernetes ${kubeVersion}`);
  }
  ok(path, kinds.join(', ') + (kubeVersion !== undefined ? `, kubernetesVersion ${kubeVersion}` : ''));
}

function checkAuditPolicy(view: LayerView, ok: Report, fail: Report): void {
  const path = 'statics/audit-policy.yml';
  const text = fileText(view, path);
  if (text === undefined) return fail(path, 'missing: copied to /etc/kubernetes on every control plane before kubeadm runs');
  const docs = parseAllDocuments(text);
  const value = docs.length === 1 && docs[0]!.errors.length === 0 ? docs[0]!.toJS() : undefined;
  if (value?.kind !== 'Policy' || typeof value?.apiVersion !== 'string' || !value.apiVersion.startsWith('audit.k8s.io/')) {
    return fail(path, 'not an audit.k8s.io Policy');
  }
  ok(path, `${value.apiVersion} Policy`);
}

/** sealer's registry defaults (common/common.go): its Clusterfile's registry, unless set there. */
const SEALER_REGISTRY = { domain: 'sea.hub', port: 5000 };

function checkSealer({ view, declared, metadata, runtime }: ContractSubject, ok: Report, fail: Report): void {
  if (runtime === 'k3s') return fail('cluster runtime', 'k3s: sealer has no k3s runtime (pkg/cluster-runtime/installer.go)');
  if (runtime === 'k0s') return fail('cluster runtime', 'k0s: sealer\'s k0s runtime is not covered by this checker (docs/rootfs-contract.md)');
  if (runtime === undefined) return;
  const containerRuntime = declared?.labels.get(Label.containerRuntimeType) ?? metadata?.containerRuntime;
  if (containerRuntime === undefined) {
    fail(Label.containerRuntimeType, 'missing: sealer runs scripts/<container runtime>.sh');
  } else {
    for (const script of [`${containerRuntime}.sh`, `uninstall-${containerRuntime}.sh`]) checkScript(view, script, `installs or removes ${containerRuntime} (pkg/container-runtime/default.go)`, ok, fail);
  }
  checkScript(view, 'init-kube.sh', 'prepares each host for kubeadm (pkg/runtime/kubernetes/init.go)', ok, fail);
  checkKubeadmYml(view, metadata?.kubeVersion, ok, fail);
  checkAuditPolicy(view, ok, fail);
  if (metadata) {
    const { domain, port } = metadata.registry;
    if (domain === SEALER_REGISTRY.domain && port === SEALER_REGISTRY.port) ok('registry', `${domain}:${port}, sealer's default`);
    else fail('registry', `${domain}:${port}: sealer's registry is ${SEALER_REGISTRY.domain}:${SEALER_REGISTRY.port} unless its Clusterfile says otherwise, and the image's containerd mirror names ${domain}`);
  }
}

function checkScript(view: LayerView, name: string, why: string, ok: Report, fail: Report): void {
  const path = `scripts/${name}`;
  const target = resolvePath(view, path);
  if (!target || target.facts.type !== 'file') fail(path, `${view.has(path) ? 'not a regular file' : 'missing'}: sealer runs it with bash; it ${why}`);
  else ok(path, 'present');
}

/** The text of one of UPSTREAM_CONTRACT_FILES (the only ones the view keeps besides Metadata). */
function fileText(view: LayerView, path: (typeof UPSTREAM_CONTRACT_FILES)[number]): string | undefined {
  const target = resolvePath(view, path);
  if (!target || target.facts.type !== 'file') return undefined;
  return contentOf(target.facts)?.toString('utf8');
}

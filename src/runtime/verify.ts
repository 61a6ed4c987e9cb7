import { formatPlatform, normalizePlatform, samePlatform, type Platform } from '../oci/platform.js';
import { isDigest } from '../oci/digest.js';
import { checkedJson } from '../oci/schemas.js';
import { manifestLayers } from '../layer/image-model.js';
import type { StoredTarget } from '../store/image.js';
import type { Store } from '../store/store.js';
import { UserError } from '../util/errors.js';
import { ELF_CHECKED_DIRS, describeElf, elfMatches, isElfChecked, type ElfIdent } from './elf.js';
import { MetadataSchema, declaredRuntime, expectedMetadata, metadataDifference, parseMetadata, type Metadata } from './metadata.js';
import { contentOf, resolvePath, viewFromDirectory, viewFromLayers, type LayerView } from './layer-view.js';
import { REGISTRY_IMAGE_PATH, RUNTIME_EXECUTABLES, type ClusterRuntime } from './runtimes.js';
import type { Finding, ImageDeclarations } from './findings.js';
import { verifyUpstream, type UpstreamTool } from './upstream-contract.js';


/** ELF files under the checked dirs built for another architecture than the platform's. */
export function elfMismatches(view: LayerView, platform: Platform): { path: string; elf: ElfIdent; layer: number }[] {
  const wrong = [];
  for (const [path, facts] of view) {
    if (facts.elf && isElfChecked(path) && !elfMatches(facts.elf, platform)) wrong.push({ path, elf: facts.elf, layer: facts.layer });
  }
  return wrong.sort((a, b) => (a.path < b.path ? -1 : 1));
}


/**
 * Checks one platform's rootfs against the runtime contract: Metadata valid and matching the
 * platform (and the labels, for an image), the runtime's files present and executable, ELF
 * binaries of the right architecture, a loadable registry image, and a registry/ folder whose
 * every link resolves to a blob it holds. Then, for each of `upstream`, what that tool reads
 * (upstream-contract.ts).
 */
export function verifyRootfs(view: LayerView, platform: Platform, declared: ImageDeclarations | undefined, upstream: readonly UpstreamTool[] = []): Finding[] {
  const findings: Finding[] = [];
  const ok = (subject: string, message: string) => findings.push({ ok: true, subject, message });
  const fail = (subject: string, message: string) => findings.push({ ok: false, subject, message });

  const metadata = checkMetadata(view, platform, declared, ok, fail);
  const runtime = (declared && safeRuntime(declared.labels)) ?? metadata?.clusterRuntime;
  if (runtime === undefined) {
    fail('Metadata', 'no cluster runtime is declared (label cluster.alpha.sealer.io/cluster-runtime-type, or Metadata clusterRuntime): this is not a ClusterImage');
  } else {
    for (const path of RUNTIME_EXECUTABLES[runtime]) checkExecutable(view, path, ok, fail);
  }

  const wrongArch = elfMismatches(view, platform);
  for (const { path, elf } of wrongArch) fail(path, `ELF binary for ${describeElf(elf)}, but the platform is ${formatPlatform(platform)}`);
  const elfCount = [...view].filter(([path, facts]) => facts.elf && isElfChecked(path)).length;
  if (wrongArch.length === 0) ok('ELF', `${elfCount} ELF file${elfCount === 1 ? '' : 's'} under ${ELF_CHECKED_DIRS.map((d) => `${d}/`).join(', ')}: none for another architecture than ${platform.architecture}`);

  checkRegistryImage(view, ok, fail);
  checkRegistryFolder(view, ok, fail);
  for (const tool of upstream) findings.push(...verifyUpstream(tool, { view, declared, metadata, runtime }));
  return findings;
}

function safeRuntime(labels: ReadonlyMap<string, string>): ClusterRuntime | undefined {
  try {
    return declaredRuntime(labels);
  } catch {
    return undefined;
  }
}

type Report = (subject: string, message: string) => void;

function checkMetadata(view: LayerView, platform: Platform, declared: ImageDeclarations | undefined, ok: Report, fail: Report): Metadata | undefined {
  const facts = view.get('Metadata');
  const bytes = facts && facts.type === 'file' ? contentOf(facts) : undefined;
  if (!bytes) {
    fail('Metadata', facts ? 'not a regular file of at most 64 KiB' : 'missing');
    return undefined;
  }
  let metadata: Metadata;
  try {
    metadata = parseMetadata(bytes, 'Metadata');
  } catch (err) {
    fail('Metadata', (err as UserError).message.replace(/^Metadata: /, ''));
    return undefined;
  }
  const normal = normalizePlatform(platform);
  const found = normalizePlatform({ os: normal.os, architecture: metadata.arch, variant: metadata.variant === '' ? undefined : metadata.variant });
  if (formatPlatform(found) !== formatPlatform(normal)) {
    fail('Metadata', `says ${formatPlatform(found)}, but this is the ${formatPlatform(normal)} image`);
    return metadata;
  }
  if (declared) {
    try {
      const runtime = declaredRuntime(declared.labels);
      if (runtime === undefined) {
        fail('Metadata', `says clusterRuntime ${metadata.clusterRuntime}, but the image labels declare no cluster runtime`);
        return metadata;
      }
      const difference = metadataDifference(metadata, expectedMetadata(runtime, declared.labels, declared.env, platform));
      if (difference) {
        fail('Metadata', `${difference.field} is ${difference.found}, but the image labels and ENV say ${difference.expected}`);
        return metadata;
      }
    } catch (err) {
      fail('Metadata', (err as UserError).message);
      return metadata;
    }
  }
  ok('Metadata', `${metadata.clusterRuntime} ${metadata.version} (kube ${metadata.kubeVersion}) for ${formatPlatform(normal)}, registry ${metadata.registry.domain}:${metadata.registry.port}`);
  return metadata;
}

function checkExecutable(view: LayerView, path: string, ok: Report, fail: Report): void {
  if (!view.has(path)) return fail(path, 'missing');
  const target = resolvePath(view, path);
  if (!target) return fail(path, 'a link that points to nothing in the image');
  if (target.facts.type !== 'file') return fail(path, `not a regular file (${target.facts.type})`);
  if ((target.facts.mode & 0o111) === 0) return fail(path, `not executable (mode ${target.facts.mode.toString(8).padStart(4, '0')})`);
  ok(path, 'present, executable');
}

function checkRegistryImage(view: LayerView, ok: Report, fail: Report): void {
  const facts = view.get(REGISTRY_IMAGE_PATH);
  if (!facts) return fail(REGISTRY_IMAGE_PATH, 'missing: the registry container image the install starts (run basefs/registry-image.sh)');
  switch (facts.archive) {
    case 'oci':
    case 'docker':
      return ok(REGISTRY_IMAGE_PATH, `${facts.archive === 'oci' ? 'an OCI' : 'a docker'} image archive`);
    case 'placeholder':
      return fail(REGISTRY_IMAGE_PATH, 'a placeholder, not the registry image: the install cannot start the registry (run basefs/registry-image.sh with network access, then build again)');
    default:
      return fail(REGISTRY_IMAGE_PATH, 'not an OCI or docker image archive (tar or tar.gz with index.json or manifest.json)');
  }
}

/** docs/formats.md §3: every link file names a blob, and the blob's data file is there. */
function checkRegistryFolder(view: LayerView, ok: Report, fail: Report): void {
  const prefix = 'registry/docker/registry/v2/repositories/';
  let links = 0;
  let broken = 0;
  for (const [path, facts] of view) {
    if (!path.startsWith(prefix) || !path.endsWith('/link') || facts.type !== 'file') continue;
    links++;
    const text = contentOf(facts)?.toString('utf8').trim();
    if (text === undefined || !isDigest(text)) {
      broken++;
      fail(path, `not a link: expected "sha256:<64 hex>"`);
      continue;
    }
    const hex = text.slice('sha256:'.length);
    const blob = view.get(`registry/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`);
    if (!blob || blob.type !== 'file') {
      broken++;
      fail(path, `points to ${text}, which registry/ does not hold`);
    }
  }
  if (links === 0) ok('registry/', 'no cached images');
  else if (broken === 0) ok('registry/', `${links} links, each to a blob that is there`);
}

/** A platform's verdict: where it came from and what was found. */
export interface PlatformReport {
  platform: string;
  /** The manifest digest, for an image. */
  digest?: string;
  findings: Finding[];
}

/** Verifies every platform of a stored image (or those `only` names) from its layers; `name` names it in messages. */
export async function verifyStoredImage(store: Store, target: StoredTarget, name: string, only: Platform | undefined, upstream: readonly UpstreamTool[] = []): Promise<PlatformReport[]> {
  const reports: PlatformReport[] = [];
  for (const missing of target.missing) {
    const shown = missing.platform ? formatPlatform(normalizePlatform(missing.platform)) : missing.digest;
    if (!only || shown === formatPlatform(only)) reports.push({ platform: shown, digest: missing.digest, findings: [{ ok: false, subject: 'image', message: 'not in the store (pulled without this platform)' }] });
  }
  for (const image of target.images) {
    if (only && !samePlatform(image.platform, only)) continue;
    const absent = [];
    for (const layer of image.manifest.layers) if (!(await store.hasBlob(layer.digest))) absent.push(layer.digest);
    if (absent.length > 0) {
      reports.push({ platform: formatPlatform(image.platform), digest: image.descriptor.digest, findings: absent.map((d) => ({ ok: false, subject: 'image', message: `layer ${d} is missing from the store (pull or build the image again)` })) });
      continue;
    }
    const layers = manifestLayers(image.manifest.layers, image.config.rootfs.diff_ids, (d) => store.blobPath(d), `image ${name} (${formatPlatform(image.platform)})`);
    const config = image.config.config ?? {};
    const declared = {
      labels: new Map(Object.entries(config.Labels ?? {})),
      env: new Map((config.Env ?? []).map(splitEnv)),
    };
    reports.push({ platform: formatPlatform(image.platform), digest: image.descriptor.digest, findings: verifyRootfs(await viewFromLayers(layers), image.platform, declared, upstream) });
  }
  if (reports.length === 0 && only) {
    throw new UserError(`the image has no ${formatPlatform(only)} platform`, { hint: `it has ${target.images.map((i) => formatPlatform(i.platform)).join(', ')}`, exitCode: 2 });
  }
  return reports;
}

/**
 * Verifies a rootfs directory (an export). Its platform is `platform`, else the one its
 * Metadata names; labels do not exist there, so Metadata is checked on its own.
 */
export async function verifyDirectory(dir: string, platform: Platform | undefined, upstream: readonly UpstreamTool[] = []): Promise<PlatformReport> {
  const view = await viewFromDirectory(dir);
  let chosen = platform;
  if (!chosen) {
    const facts = view.get('Metadata');
    const bytes = facts && contentOf(facts);
    const metadata = bytes && checkedJson(MetadataSchema, bytes);
    if (!metadata) throw new UserError(`${dir} has no valid Metadata to tell its platform`, { hint: 'pass --platform linux/<arch>', exitCode: 2 });
    chosen = normalizePlatform({ os: 'linux', architecture: metadata.arch, variant: metadata.variant === '' ? undefined : metadata.variant });
  }
  return { platform: formatPlatform(chosen), findings: verifyRootfs(view, chosen, undefined, upstream) };
}

function splitEnv(kv: string): [string, string] {
  const eq = kv.indexOf('=');
  return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)];
}

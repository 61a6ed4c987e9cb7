import { stat, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatPlatform, type Platform } from '../oci/platform.js';
import type { History } from '../oci/schemas.js';
import type { ImageDraft } from '../layer/image-model.js';
import { writeLayer, type LayerCompression } from '../layer/layer-writer.js';
import type { ResolvedImage } from '../store/image.js';
import type { BlobBatch, Store } from '../store/store.js';
import { UserError } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import { describeElf } from './elf.js';
import { declaredRuntime, expectedMetadata, metadataDifference, mirroredLabels, parseMetadata, serializeMetadata, type Metadata } from './metadata.js';
import { contentOf, viewFromLayers, type LayerFactsMemo, type LayerView } from './layer-view.js';
import { Label, SEALOS_IMAGE_VERSIONS } from './runtimes.js';
import { elfMismatches } from './verify.js';

export interface ContractInput {
  /** The image being built, as the stage left it; the contract may add labels and a layer. */
  image: ImageDraft;
  base: ResolvedImage | undefined;
  platform: Platform;
  /** --label values: they override the Kubefile's in the config, so they take part here. */
  labels: ReadonlyMap<string, string>;
  store: Store;
  batch: BlobBatch;
  /** What the build's layers hold, kept by diff_id. */
  facts: LayerFactsMemo;
  compression: LayerCompression;
  timestamp: Date;
  reporter: Reporter;
  /** The view of `image.layers`, when the caller has it already (the build shares one with image caching). */
  view?: LayerView;
}

/**
 * The ClusterImage contract, applied once a platform's stage has run: every ELF binary under
 * the checked dirs is built for the platform's architecture, and when the image declares a
 * cluster runtime (a label, or inherited from the base) its facts are mirrored into sealer's
 * and sealos' labels and into `Metadata`. A Metadata the context brings must agree; one
 * inherited from the base is replaced when the facts changed; otherwise sealbuild writes it,
 * as a small layer of its own at the end.
 */
export async function applyRuntimeContract(input: ContractInput): Promise<void> {
  const { image, base, platform } = input;
  const baseLayers = base?.manifest.layers.length ?? 0;
  const view = input.view ?? (await viewFromLayers(image.layers, input.facts));
  const origin = (layer: number) => (layer < baseLayers ? 'from the base image' : `added by ${JSON.stringify(layerInstruction(image.history, layer))}`);

  const wrong = elfMismatches(view, platform);
  if (wrong.length > 0) {
    const [first] = wrong;
    const more = wrong.length > 1 ? ` (and ${wrong.length - 1} more: ${wrong.slice(1, 4).map((w) => w.path).join(', ')}${wrong.length > 4 ? ', …' : ''})` : '';
    throw new UserError(`${first!.path} is an ELF binary for ${describeElf(first!.elf)}, but the image being built is ${formatPlatform(platform)}; ${origin(first!.layer)}${more}`, {
      hint: 'give each platform its own binaries, e.g. COPY bin/${ARCH}/ bin/ or an ADD URL with ${ARCH} in it',
    });
  }

  const effective = new Map([...image.labels, ...input.labels]);
  const runtime = declaredRuntime(effective);
  const metadataFacts = view.get('Metadata');
  if (runtime === undefined) {
    if (metadataFacts && metadataFacts.layer >= baseLayers) {
      throw new UserError(`Metadata is ${origin(metadataFacts.layer)}, but the image declares no cluster runtime`, { hint: `add LABEL ${Label.runtimeType}=k3s|k0s|kubernetes (sealbuild then writes Metadata itself)` });
    }
    return;
  }
  const expected = expectedMetadata(runtime, effective, image.env, platform);
  mirrorLabels(expected, image.labels, input.labels, base?.config.config?.Labels ?? {});

  let inherited: Metadata | undefined;
  if (metadataFacts) {
    const bytes = metadataFacts.type === 'file' ? contentOf(metadataFacts) : undefined;
    const where = `Metadata (${origin(metadataFacts.layer)})`;
    if (!bytes) throw new UserError(`${where} is not a JSON file of at most 64 KiB`, { hint: 'remove it from the context: sealbuild writes Metadata itself' });
    const found = parseMetadata(bytes, where);
    const difference = metadataDifference(found, expected);
    if (!difference) return;
    if (metadataFacts.layer >= baseLayers) {
      throw new UserError(`${where} has ${difference.field} ${difference.found}, but the image's labels and ENV make it ${difference.expected} for ${formatPlatform(platform)}`, {
        hint: 'make them agree, or remove Metadata from the context and let sealbuild write it',
      });
    }
    inherited = found;
  }
  await writeMetadataLayer({ ...inherited, ...expected }, input);
  input.reporter.info(`Metadata: ${expected.clusterRuntime} ${expected.version} for ${formatPlatform(platform)}${inherited ? ' (the base image\'s, updated)' : ''}`);
}

/** The Kubefile line that made layer `index` (history entries without a layer do not count). */
function layerInstruction(history: History[], index: number): string {
  return history.filter((h) => !h.empty_layer)[index]?.created_by ?? `layer ${index + 1}`;
}

/**
 * Sets the labels sealer and sealos read to the runtime's facts. A value the base image had is
 * replaced silently (the child changed a fact); a different value written in this build, in
 * the Kubefile or by --label, is a contradiction and fails the build.
 */
function mirrorLabels(metadata: Metadata, labels: Map<string, string>, overrides: ReadonlyMap<string, string>, baseLabels: Readonly<Record<string, string>>): void {
  const wanted = mirroredLabels(metadata);
  const labelValue = (key: string) => overrides.get(key) ?? labels.get(key);
  // sealos' newer distribution name, when the Kubefile uses it, must agree too.
  if (labelValue(Label.sealosDistributionV2) !== undefined) wanted.set(Label.sealosDistributionV2, metadata.clusterRuntime);
  // sealos installs only images of type rootfs as a cluster; keep what the Kubefile says.
  if (labelValue(Label.sealosType) === undefined && labelValue(Label.sealosTypeV2) === undefined) wanted.set(Label.sealosType, 'rootfs');
  // ... and only rootfs images with a format version it knows.
  const formatKey = [Label.sealosImageVersion, Label.sealosImageVersionV2].find((k) => labelValue(k) !== undefined);
  if (formatKey === undefined) wanted.set(Label.sealosImageVersion, SEALOS_IMAGE_VERSIONS[0]!);
  else if (!SEALOS_IMAGE_VERSIONS.includes(labelValue(formatKey)!)) {
    throw new UserError(`label ${formatKey}=${labelValue(formatKey)!} is not an image format version sealos accepts`, {
      hint: `use ${SEALOS_IMAGE_VERSIONS.join(' or ')} (the runtime's version goes in ${Label.runtimeVersion}), or leave it out: sealbuild writes ${Label.sealosImageVersion}=${SEALOS_IMAGE_VERSIONS[0]}`,
    });
  }
  for (const [key, value] of wanted) {
    const given = overrides.get(key) ?? labels.get(key);
    const setHere = overrides.has(key) || (labels.has(key) && baseLabels[key] !== labels.get(key));
    if (given !== undefined && given !== value && setHere) {
      throw new UserError(`label ${key}=${given} contradicts the image's runtime facts, which make it ${value}`, {
        hint: `declare each fact once: ${Label.runtimeType}, ${Label.runtimeVersion}, ${Label.containerRuntimeType} and KUBEVERSION; sealbuild mirrors them into the other labels and Metadata`,
      });
    }
    labels.set(key, value);
  }
}

async function writeMetadataLayer(metadata: Metadata, input: ContractInput): Promise<void> {
  const dir = await input.store.makeTempDir('metadata');
  try {
    const file = join(dir, 'Metadata');
    await writeFile(file, serializeMetadata(metadata), { mode: 0o644 });
    const entry = { path: 'Metadata', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: (await stat(file)).size, source: file };
    const layer = await writeLayer([entry], { mtime: input.timestamp, compression: input.compression }, input.batch);
    input.image.layers.push(layer);
    input.image.history.push({ created: input.timestamp.toISOString().replace(/\.\d{3}Z$/, 'Z'), created_by: `sealbuild: Metadata for ${formatPlatform(input.platform)}`, comment: 'sealbuild' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

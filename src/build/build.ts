import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseKubefile } from '../kubefile/parse.js';
import { expandWord } from '../kubefile/expand.js';
import type { Kubefile } from '../kubefile/instructions.js';
import { Annotation, MediaType } from '../oci/media-types.js';
import { formatPlatform, hostPlatform, parsePlatform, samePlatform, type Platform } from '../oci/platform.js';
import { normalizeReference } from '../oci/reference.js';
import type { Descriptor, ImageConfig, ImageIndex, Manifest } from '../oci/schemas.js';
import { pullImage } from '../registry/pull.js';
import type { Registries } from '../registry/registries.js';
import { readTagged, readTarget, selectPlatform, type ResolvedImage } from '../store/image.js';
import type { BlobBatch, Store } from '../store/store.js';
import { KubefileError, UserError } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import { VERSION } from '../version.js';
import type { LayerCompression } from '../layer/layer-writer.js';
import { cacheImages, type ImageCachingOptions } from '../airgap/cache-images.js';
import { writeRegistryLayer } from '../airgap/registry-layer.js';
import { BuildContext } from './context.js';
import { StageBuilder, type StageResult } from './stage-builder.js';
import { VariableScope, platformArgs } from './variables.js';

export interface BuildOptions {
  contextDir: string;
  /** -f: the Kubefile path; defaults to CONTEXT/Kubefile. */
  kubefile?: string;
  /** Normalised references to tag the result with. */
  tags: string[];
  platforms: Platform[];
  buildArgs: Map<string, string>;
  labels: Map<string, string>;
  compression: LayerCompression;
  timestamp: Date;
  store: Store;
  /** Where FROM images missing from the store are pulled from. */
  registries: Registries;
  reporter: Reporter;
  /** Which container images go into registry/ (airgap caching). */
  images: ImageCachingOptions;
}

export interface BuildResult {
  descriptor: Descriptor;
  platforms: Platform[];
}

/**
 * Kubefile + context -> an image (one platform) or an index (several) in the store.
 * Every blob goes to a batch first; only a build that succeeds moves its blobs into the
 * store and then moves its tags, so a failed build leaves the store as it was.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const context = await BuildContext.open(options.contextDir);
  const kubefilePath = options.kubefile ?? join(options.contextDir, 'Kubefile');
  const text = await readFile(kubefilePath, 'utf8').catch(() => {
    throw new UserError(`Kubefile not found: ${kubefilePath}`, { hint: options.kubefile ? 'check the -f path' : 'put a Kubefile in the context directory or pass -f FILE', exitCode: 2 });
  });
  const kubefile = parseKubefile(text, relative(process.cwd(), kubefilePath) || kubefilePath);
  const batch = await options.store.beginBatch();
  try {
    const manifests: Descriptor[] = [];
    for (const platform of options.platforms) {
      manifests.push(await buildPlatform(kubefile, platform, context, batch, options));
    }
    const descriptor = manifests.length === 1 ? manifests[0]! : await writeIndex(manifests, batch);
    await batch.commit();
    for (const tag of options.tags) await options.store.setTag(tag, descriptor);
    return { descriptor, platforms: options.platforms };
  } catch (err) {
    await batch.abort();
    throw err;
  }
}

async function buildPlatform(kubefile: Kubefile, platform: Platform, context: BuildContext, batch: BlobBatch, options: BuildOptions): Promise<Descriptor> {
  const globals = new VariableScope(options.buildArgs, platformArgs(platform, hostPlatform()));
  for (const ins of kubefile.globalArgs) {
    for (const arg of ins.args) globals.declareArg(arg.name, arg.defaultValue === undefined ? undefined : expandWord(arg.defaultValue, globals.lookup, ins.pos));
  }
  // Only the last stage is the image; earlier ones have no consumer until COPY --from exists.
  const stage = kubefile.stages[kubefile.stages.length - 1]!;
  const from = stage.from;
  const imageName = expandWord(from.image, globals.lookup, from.pos);
  let base: ResolvedImage | undefined;
  let baseName: string | undefined;
  if (imageName !== 'scratch') {
    const basePlatform = from.platform === undefined ? platform : parsePlatform(expandWord(from.platform, globals.lookup, from.pos), 'FROM --platform');
    try {
      baseName = normalizeReference(imageName);
      base = await baseImage(baseName, imageName, basePlatform, options);
    } catch (err) {
      if (err instanceof UserError) throw new KubefileError(from.pos, `FROM ${imageName}: ${err.message}`, err.hint);
      throw err;
    }
  }
  const scope = globals.stageScope();
  const stageCount = stage.instructions.length + 1;
  const result = await new StageBuilder({
    stage, platform, scope, base, context, store: options.store, batch, reporter: options.reporter,
    compression: options.compression, timestamp: options.timestamp, stepOffset: 1, stepTotal: stageCount,
  }).run();
  for (const name of scope.unusedBuildArgs()) options.reporter.warn(`build argument ${name} was not consumed by any ARG`);
  const cached = await cacheImages({
    store: options.store, batch, registries: options.registries, reporter: options.reporter, platform, lookup: scope.lookup, options: options.images,
    layers: result.layers.map((descriptor, i) => ({ descriptor, diffId: result.diffIds[i]!, file: batch.pathOf(descriptor.digest) })),
  });
  if (cached) {
    const layer = await writeRegistryLayer(cached.entries, options.timestamp, options.store, batch);
    result.layers.push(layer.descriptor);
    result.diffIds.push(layer.diffId);
    result.history.push({ created: options.timestamp.toISOString().replace(/\.\d{3}Z$/, 'Z'), created_by: `sealbuild: cache ${cached.lock.length} images into registry/`, comment: 'sealbuild' });
  }
  return writeImage(result, platform, base, baseName, batch, options, cached?.annotation);
}

/**
 * The base image for one platform: from the store when it has it (so rebuilds work
 * offline), else pulled from its registry first.
 */
async function baseImage(name: string, shown: string, platform: Platform, options: BuildOptions): Promise<ResolvedImage> {
  const stored = await options.store.resolveTag(name);
  if (stored) {
    const target = await readTarget(options.store, stored);
    if (target.images.some((image) => samePlatform(image.platform, platform))) return selectPlatform(target, platform, shown);
  }
  await pullImage(options.store, shown, { platforms: [platform], registries: options.registries, reporter: options.reporter });
  return selectPlatform(await readTagged(options.store, name, shown), platform, shown);
}

async function writeImage(result: StageResult, platform: Platform, base: ResolvedImage | undefined, baseName: string | undefined, batch: BlobBatch, options: BuildOptions, containerImages?: string): Promise<Descriptor> {
  const created = options.timestamp.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const labels = new Map([...result.labels, ...options.labels]);
  const config: ImageConfig = {
    created,
    ...(result.author !== undefined ? { author: result.author } : {}),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    config: {
      Env: [...result.env].map(([k, v]) => `${k}=${v}`),
      Labels: Object.fromEntries([...labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    },
    rootfs: { type: 'layers', diff_ids: result.diffIds },
    history: result.history,
  };
  const configDescriptor = await batch.writeBytes(Buffer.from(JSON.stringify(config)), MediaType.ociConfig);
  const annotations: Record<string, string> = {
    [Annotation.created]: created,
    [Annotation.sealerExtension]: JSON.stringify(result.sealer.toExtension(VERSION)),
  };
  if (containerImages !== undefined) annotations[Annotation.sealerContainerImages] = containerImages;
  if (base && baseName) {
    annotations[Annotation.baseName] = baseName;
    annotations[Annotation.baseDigest] = base.descriptor.digest;
  }
  const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: result.layers, annotations };
  const descriptor = await batch.writeBytes(Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
  options.reporter.info(`built ${formatPlatform(platform)}: ${descriptor.digest}`, { platform: formatPlatform(platform), digest: descriptor.digest });
  return { ...descriptor, platform: { architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}) } };
}

async function writeIndex(manifests: Descriptor[], batch: BlobBatch): Promise<Descriptor> {
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  return batch.writeBytes(Buffer.from(JSON.stringify(index)), MediaType.ociIndex);
}

import type { Kubefile } from '../kubefile/instructions.js';
import { Annotation, MediaType } from '../oci/media-types.js';
import { formatPlatform, type Platform } from '../oci/platform.js';
import type { Descriptor, ImageConfig, ImageIndex, Manifest } from '../oci/schemas.js';
import type { ResolvedImage } from '../store/image.js';
import { withBuildLease } from '../store/gc.js';
import type { BlobBatch } from '../store/store.js';
import { VERSION } from '../version.js';
import { digestHex } from '../oci/digest.js';
import { writeLayer } from '../layer/layer-writer.js';
import { cacheImages } from '../airgap/cache-images.js';
import { isImageDocument } from '../airgap/documents.js';
import { applyRuntimeContract } from '../runtime/contract.js';
import { LayerFactsMemo, applyLayer, viewFromLayers } from '../runtime/layer-view.js';
import { LayerCache, StatCache } from './cache.js';
import { BuildContext } from './context.js';
import { readKubefile } from './kubefile-source.js';
import { configObject } from './container-config.js';
import type { StageResult } from './stage-result.js';
import { buildStages, type StagesInput } from './stages.js';
import type { Workspace } from './workspace.js';
import type { BuildOptions } from './options.js';
import { globalScope } from './variables.js';

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
  const { record } = options;
  // Before anything of the context is read: the record's view of it must not be newer than the build's.
  record?.beforeBuild(options.reporter);
  const context = await BuildContext.open(options.contextDir, (message) => options.reporter.warn(message));
  const kubefile = await readKubefile(options.contextDir, options.kubefile, options.reporter, record?.kubefile);
  // The lease keeps `sealbuild prune` from deleting blobs this build reuses before its tags land.
  return withBuildLease(options.store, async () => {
    const batch = await options.store.beginBatch();
    const shared = {
      context, batch, options, cache: new LayerCache(options.store, batch, options.remoteCache), statCache: await StatCache.load(options.store, context.root),
      facts: new LayerFactsMemo(options.store.root, isImageDocument, batch), workspaces: [] as Workspace[],
    };
    shared.statCache.saveOnCommit(batch);
    try {
      const manifests: Descriptor[] = [];
      for (const platform of options.platforms) {
        manifests.push(await buildPlatform(kubefile, platform, shared));
      }
      const descriptor = manifests.length === 1 ? manifests[0]! : await writeIndex(manifests, batch);
      await batch.commit();
      for (const tag of options.tags) await options.store.setTag(tag, descriptor);
      if (record) {
        for (const [key, layer] of shared.cache.used()) record.cacheEntry(digestHex(key), layer.descriptor);
        await record.afterBuild(options.store, descriptor);
      }
      // Under the lease still: layers of stages the image does not contain have no tag yet.
      await options.remoteCache?.export(options.store, shared.cache.used());
      return { descriptor, platforms: options.platforms };
    } catch (err) {
      await batch.abort();
      throw err;
    } finally {
      await Promise.all(shared.workspaces.map((w) => w.remove()));
    }
  });
}

async function buildPlatform(kubefile: Kubefile, platform: Platform, shared: Omit<StagesInput, 'kubefile' | 'platform' | 'globals'>): Promise<Descriptor> {
  const { batch, options, facts } = shared;
  const globals = globalScope(kubefile, options.buildArgs, platform);
  // Only the last stage is the image; the stages it copies from are built first, others never.
  const { result, scope, base, baseName } = await buildStages({ ...shared, kubefile, platform, globals });
  for (const name of scope.unusedBuildArgs()) options.reporter.warn(`build argument ${name} was not consumed by any ARG`);
  // One view of the layers for image caching and the runtime contract, the cached images' layer added between.
  const view = await viewFromLayers(result.layers, facts);
  const cached = await cacheImages({
    store: options.store, batch, registries: options.registries, reporter: options.reporter, platform, lookup: scope.lookup, options: options.images,
    contextFile: async (written, pos) => (await shared.context.resolve(written, 'image file', pos, true))[0]!.abs,
    layers: result.layers, facts, view, external: (why) => options.record?.external(why),
  });
  for (const entry of cached?.lock ?? []) options.record?.resolved(entry.ref, entry.digest);
  if (cached) {
    // Uncompressed: what it holds is compressed already (image layers), so gzip would burn CPU
    // for nothing (sealer #2100). Its blobs are known by digest, so an unchanged image set
    // finds the layer made before without reading it.
    // Its facts come from its entries (no scan of the blobs' bytes) where they tell all.
    const known = await facts.ofEntries(cached.entries);
    const layer = await writeLayer(cached.entries, { mtime: options.timestamp, compression: 'none', ...(known ? {} : { inspect: facts.scanTar }) }, batch);
    const found = known ?? layer.inspected;
    if (found) facts.remember(layer, found);
    applyLayer(view, await facts.facts(layer), result.layers.length);
    result.layers.push(layer);
    result.history.push({ created: options.timestamp.toISOString().replace(/\.\d{3}Z$/, 'Z'), created_by: `sealbuild: cache ${cached.lock.length} images into registry/`, comment: 'sealbuild' });
  }
  await applyRuntimeContract({ image: result, base, platform, labels: options.labels, store: options.store, batch, facts, view, compression: options.compression, timestamp: options.timestamp, reporter: options.reporter });
  return writeImage(result, platform, base, baseName, batch, options, cached?.annotation);
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
    config: configObject(result.config, result.env, Object.fromEntries([...labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))),
    rootfs: { type: 'layers', diff_ids: result.layers.map((l) => l.diffId) },
    history: result.history,
  };
  const configDescriptor = await batch.writeBytes(Buffer.from(JSON.stringify(config)), MediaType.ociConfig);
  const annotations: Record<string, string> = {
    [Annotation.created]: created,
    [Annotation.sealerExtension]: JSON.stringify(result.sealer.toExtension(VERSION, options.imageType)),
  };
  if (containerImages !== undefined) annotations[Annotation.sealerContainerImages] = containerImages;
  if (base && baseName) {
    annotations[Annotation.baseName] = baseName;
    annotations[Annotation.baseDigest] = base.descriptor.digest;
  }
  const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: result.layers.map((l) => l.descriptor), annotations };
  const descriptor = await batch.writeBytes(Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
  options.reporter.info(`built ${formatPlatform(platform)}: ${descriptor.digest}`, { platform: formatPlatform(platform), digest: descriptor.digest });
  return { ...descriptor, platform: { architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}) } };
}

async function writeIndex(manifests: Descriptor[], batch: BlobBatch): Promise<Descriptor> {
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  return batch.writeBytes(Buffer.from(JSON.stringify(index)), MediaType.ociIndex);
}

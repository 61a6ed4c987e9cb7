import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Digest } from '../oci/digest.js';
import { expandWord } from '../kubefile/expand.js';
import { asWord } from '../kubefile/instructions.js';
import { formatPlatform, normalizePlatform, samePlatform, type Platform } from '../oci/platform.js';
import { formatReference, parseReference } from '../oci/reference.js';
import type { Descriptor } from '../oci/schemas.js';
import type { LayerEntry } from '../layer/tar-writer.js';
import { pullImages, type PullRequest } from '../transfer/pull.js';
import type { Registries } from '../registry/registries.js';
import { readTarget } from '../store/image.js';
import type { BlobBatch, Store } from '../store/store.js';
import { viewFromLayers, type LayerFactsMemo, type LayerView } from '../runtime/layer-view.js';
import { IMAGES_LOCK_PATH, documentsOf } from './documents.js';
import type { Layer } from '../layer/image-model.js';
import { UserError, type SourcePosition } from '../util/errors.js';
import { formatBytes, type Reporter } from '../util/reporter.js';
import { formatImageFileSpec, openImageFile, parseImageFileSpec, type ImageFileSpec } from './image-files.js';
import { findCharts, imagesInHelmChart, scanChartValues } from './charts.js';
import { imagesInList, imagesInYaml, type FoundImage, type ImageField } from './discover.js';
import { registryLayout, type LayoutImage } from './registry-layout.js';

/** What the user told the build about image caching. */
export interface ImageCachingOptions {
  /** `lite` (sealer's name) caches nothing. */
  mode: 'full' | 'lite';
  /** From --image-list files; image files named there have absolute paths. */
  extra: FoundImage[];
  /** Normalised references from --ignored-image-list files. */
  ignored: Set<string>;
  fields: ImageField[];
  /** Cache every platform of each image, not only the one being built. */
  allPlatforms: boolean;
}

export interface CacheInput {
  store: Store;
  registries: Registries;
  reporter: Reporter;
  platform: Platform;
  /** ${ARCH}, TARGETARCH… for references written with them. */
  lookup: (name: string) => string | undefined;
  batch: BlobBatch;
  /** The image's layers so far, in order, with where their bytes are, and what they hold. */
  layers: readonly Layer[];
  facts: LayerFactsMemo;
  /** The view of `layers`, when the caller has it already (the build shares one with the runtime contract). */
  view?: LayerView;
  options: ImageCachingOptions;
  /** Told when the result depends on more than the layers and the store's tags: a pull, an image file, helm (a build record then is not written). */
  external?: (why: string) => void;
  /** Image files an image list in the image names are paths in the build context: the host path of one (never outside it). */
  contextFile: (written: string, pos: SourcePosition) => Promise<string>;
}

/** One line of `images.lock`. */
export interface LockEntry {
  ref: string;
  digest: Digest;
  platform: string;
  size: number;
}

export interface CachedImages {
  /** The registry/ folder and images.lock, for one layer. */
  entries: LayerEntry[];
  lock: LockEntry[];
  /** `sealer.image.container.images`: [{image, appName?, platform: {architecture, os, variant?}}]. */
  annotation: string;
  downloadedBytes: number;
}

const APP_DIR = /^application\/apps\/([^/]+)\//;


function which(command: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/**
 * Every image reference the image's manifests, charts and image lists name (`files`: the
 * documents under manifests/, charts/ and application/apps/, by image path). Charts are
 * rendered with helm when it is installed (`findHelm`: its path), else read from their values
 * files with a warning.
 */
export async function discoverImages(files: Map<string, Buffer>, fields: ImageField[], reporter: Pick<Reporter, 'warn'>, findHelm = () => which('helm')): Promise<FoundImage[]> {
  const charts = await findCharts(files);
  const inChart = (path: string) => charts.some((c) => path.startsWith(`${c.path}/`));
  const found: FoundImage[] = [];
  for (const [path, content] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (inChart(path)) continue;
    const text = content.toString('utf8');
    if (posix.basename(path) === 'imageList') found.push(...imagesInList(path, text));
    else if (/\.ya?ml$/.test(path) && !/\.values\.ya?ml$/.test(path)) found.push(...imagesInYaml(path, text, fields));
  }
  // A library chart renders nothing itself; the charts that depend on it render its templates.
  const rendered = charts.filter((c) => c.type !== 'library');
  const helm = rendered.length > 0 ? findHelm() : undefined;
  for (const chart of rendered) {
    if (helm) {
      found.push(...(await imagesInHelmChart(helm, chart, files, fields)));
      continue;
    }
    const scan = scanChartValues(chart, files);
    found.push(...scan.found);
    const missed = scan.missed.length > 0 ? `; images built by templates were not read: ${scan.missed.join(', ')}` : '';
    reporter.warn(`helm is not installed: images of ${chart.path} are read from its values files only${missed} (install helm to render charts)`);
  }
  return found.map((f) => {
    const app = APP_DIR.exec(f.source)?.[1];
    return app ? { ...f, appName: app } : f;
  });
}

/**
 * Finds the container images a ClusterImage needs and lays them out as a registry/ folder
 * for one platform: pulled into the store once (later builds reuse them with no network),
 * indexes kept byte for byte with only the wanted platforms' manifests present.
 */
export async function cacheImages(input: CacheInput): Promise<CachedImages | undefined> {
  const { store, reporter, platform, options } = input;
  if (options.mode === 'lite') return undefined;
  // What the image's document roots hold once all layers are applied (whiteouts included): path -> content.
  const files = documentsOf(input.view ?? (await viewFromLayers(input.layers, input.facts)));
  const findHelm = () => {
    input.external?.('charts rendered by helm, or read without it');
    return which('helm');
  };
  const found = [...(await discoverImages(files, options.fields, reporter, findHelm)).map((f) => ({ ...f, inContext: true })), ...options.extra.map((f) => ({ ...f, inContext: false }))];
  const wanted = new Map<string, FoundImage>();
  const imageFiles = new Map<string, { spec: ImageFileSpec; path: string }>();
  for (const f of found) {
    const image = expandFound(f, input.lookup, reporter);
    if (image === undefined) continue;
    if ('spec' in image) {
      const path = f.inContext ? await input.contextFile(image.spec.path, listPosition(f.source)) : image.spec.path;
      imageFiles.set(formatImageFileSpec(image.spec), { spec: image.spec, path });
    } else if (!options.ignored.has(image.name) && !wanted.has(image.name)) {
      wanted.set(image.name, { ...f, image: image.name });
    }
  }
  const platforms: Platform[] | 'all' = options.allPlatforms ? 'all' : [platform];
  const scratch = imageFiles.size > 0 ? await store.makeTempDir('image-files') : undefined;
  let downloadedBytes = 0;
  try {
    // An image file is read on every build (only blobs the store lacks are copied): it may have changed.
    const missing: PullRequest[] = [];
    for (const [from, { spec, path }] of imageFiles) {
      const opened = await openImageFile(spec, path, await mkdtemp(join(scratch!, 'file-')));
      if (options.ignored.has(opened.name)) continue;
      if (!wanted.has(opened.name)) wanted.set(opened.name, { image: opened.name, source: from });
      missing.push({ ref: opened.name, platforms, file: { source: opened.source, from } });
    }
    if (wanted.size === 0) return undefined;
    checkPathCollisions([...wanted.keys()]);
    const fromFiles = new Set(missing.map((m) => m.ref));
    for (const name of wanted.keys()) if (!fromFiles.has(name) && !(await storeHas(store, name, platforms))) missing.push({ ref: name, platforms });
    if (missing.length > 0) {
      input.external?.('images pulled or read from files');
      reporter.info(`caching ${wanted.size} images into registry/ (${missing.length} to pull or read from files)`);
      downloadedBytes = (await pullImages(store, missing, { registries: input.registries, reporter })).downloadedBytes;
    }
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }

  const layout: LayoutImage[] = [];
  const lock: LockEntry[] = [];
  for (const name of [...wanted.keys()].sort()) {
    const ref = parseReference(name);
    const target = await readTarget(store, (await store.resolveTag(name))!);
    const images = platforms === 'all' ? target.images : target.images.filter((i) => samePlatform(i.platform, platform));
    const blobs = new Map<Digest, Descriptor>();
    for (const image of images) for (const d of [image.manifest.config, ...image.manifest.layers]) blobs.set(d.digest, d);
    layout.push({ repository: ref.path, ...(ref.tag !== undefined ? { tag: ref.tag } : {}), top: target.descriptor, manifests: target.index ? images.map((i) => i.descriptor) : [], blobs: [...blobs.values()] });
    for (const image of images) {
      const size = [image.descriptor, image.manifest.config, ...image.manifest.layers].reduce((sum, d) => sum + d.size, 0);
      lock.push({ ref: name, digest: target.descriptor.digest, platform: formatPlatform(image.platform), size });
    }
  }
  const lockBytes = Buffer.from(`${JSON.stringify(lock, null, 2)}\n`);
  const entries = [...registryLayout(layout, (d) => store.blobPath(d)), { path: IMAGES_LOCK_PATH, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, content: lockBytes, size: lockBytes.length }];
  // sealer decodes `platform` as an object (pkg/define/image/v1/sealer_image.go ContainerImage,
  // types/api/v1/image_types.go Platform): the platform the ClusterImage is built for.
  const { architecture, os, variant } = normalizePlatform(platform);
  const annotation = JSON.stringify(
    [...wanted.values()].map((f) => ({ image: f.image, ...(f.appName ? { appName: f.appName } : {}), platform: { architecture, os, ...(variant ? { variant } : {}) } })),
  );
  reporter.info(`cached ${wanted.size} images (${formatBytes(downloadedBytes)} new to the store)`, { event: 'images-cached', images: wanted.size, downloadedBytes });
  return { entries, lock, annotation, downloadedBytes };
}

/**
 * One found reference as the build caches it: ${ARCH}-style words expanded, then an image
 * file (only an image list may name one) or a normalised registry reference. A reference
 * still holding a template (`{{ … }}`) is skipped with a warning.
 */
export function expandFound(f: FoundImage, lookup: (name: string) => string | undefined, reporter: Reporter): { spec: ImageFileSpec } | { name: string } | undefined {
  if (f.image.includes('{{')) {
    reporter.warn(`${f.source}: "${f.image}" is still a template; not cached`);
    return undefined;
  }
  // Read as a Kubefile word: `${ARCH}` and quotes work as they do in the Kubefile.
  const expanded = expandWord(asWord(f.image), lookup, { file: f.source, line: 1, col: 1 });
  const spec = parseImageFileSpec(expanded);
  if (spec) {
    if (!f.listed) throw new UserError(`${f.source}: "${expanded}" is an image file, which only an imageList file or --image-list can name`, { hint: 'name the image by its registry reference here and list the file in manifests/imageList' });
    return { spec };
  }
  try {
    return { name: formatReference(parseReference(expanded)) };
  } catch (err) {
    throw new UserError(`${f.source}: ${(err as Error).message}`, { hint: 'fix the image reference' });
  }
}

/** `manifests/imageList:3` as a position for messages about that line. */
function listPosition(source: string): SourcePosition {
  const match = /^(.*):(\d+)$/.exec(source);
  return match ? { file: match[1]!, line: Number(match[2]), col: 1 } : { file: source, line: 1, col: 1 };
}

/** registry/ drops the host, so two hosts with one path would be merged: refuse instead. */
function checkPathCollisions(names: string[]): void {
  const owners = new Map<string, string>();
  for (const name of names.sort()) {
    const ref = parseReference(name);
    const owner = owners.get(ref.path);
    if (owner !== undefined && owner !== ref.domain) {
      throw new UserError(`images ${owner}/${ref.path} and ${ref.domain}/${ref.path} would share registry/ repository ${ref.path}`, { hint: 'a ClusterImage registry serves one image per path; drop one or add it to --ignored-image-list' });
    }
    owners.set(ref.path, ref.domain);
  }
}

/** True when the store can serve `name` for these platforms without the network. */
async function storeHas(store: Store, name: string, platforms: Platform[] | 'all'): Promise<boolean> {
  const descriptor = await store.resolveTag(name);
  if (!descriptor) return false;
  const target = await readTarget(store, descriptor);
  if (platforms === 'all') return target.missing.length === 0;
  return platforms.every((p) => target.images.some((i) => samePlatform(normalizePlatform(i.platform), p)));
}

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { FoundImage } from '../airgap/discover.js';
import type { ImageCachingOptions } from '../airgap/cache-images.js';
import { ISOLATIONS, NETWORK_MODES, type Isolation, type NetworkMode, type SandboxOptions } from '../builder/sandbox-options.js';
import { hostPlatform, parsePlatformList } from '../oci/platform.js';
import { UsageError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import type { Descriptor } from '../oci/schemas.js';
import type { Reporter } from '../util/reporter.js';
import { checkOutputFile, collect, globalOptions, keyValues, openStore, refArg, registriesFor, reporterFor, storeRoot } from './common.js';
import { writeBuildReport } from './build-report.js';

const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface BuildFlags {
  tag: string[];
  file?: string;
  platform?: string;
  buildArg: string[];
  label: string[];
  compression: string;
  timestamp?: string;
  iidfile?: string;
  metadataFile?: string;
  cache: boolean;
  isolation: string;
  network: string;
  imageList: string[];
  ignoredImageList: string[];
  imageField: string[];
  buildMode: string;
  type: string;
  dryRun?: boolean;
  allPlatforms?: boolean;
  cacheFrom?: string;
  cacheTo?: string;
}

async function readList(file: string, flag: string): Promise<FoundImage[]> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UsageError(`${flag}: cannot read ${file}`, 'give a file with one image reference per line');
  });
  const [{ imagesInList }, { parseImageFileSpec, formatImageFileSpec }] = await Promise.all([import('../airgap/discover.js'), import('../airgap/image-files.js')]);
  // Image files named in a list given on the command line are paths from the current directory.
  return imagesInList(file, text).map((found) => {
    const spec = parseImageFileSpec(found.image);
    return spec ? { ...found, image: formatImageFileSpec({ ...spec, path: resolve(spec.path) }) } : found;
  });
}

/** The image caching flags, files read and references checked up front. */
async function imageCaching(flags: BuildFlags): Promise<ImageCachingOptions> {
  if (flags.buildMode !== 'full' && flags.buildMode !== 'lite') throw new UsageError(`--build-mode: unknown mode "${flags.buildMode}"`, 'use full (cache images into registry/) or lite (do not)');
  const extra = (await Promise.all(flags.imageList.map((f) => readList(f, '--image-list')))).flat();
  const ignored = (await Promise.all(flags.ignoredImageList.map((f) => readList(f, '--ignored-image-list')))).flat();
  return {
    mode: flags.buildMode,
    extra,
    ignored: new Set(ignored.map((i) => refArg(i.image))),
    fields: flags.imageField.length === 0 ? [] : flags.imageField.map((await import('../airgap/discover.js')).parseImageField),
    allPlatforms: flags.allPlatforms === true,
  };
}

/** `--timestamp now|SECONDS`, else SOURCE_DATE_EPOCH, else the epoch: reproducible by default. */
function buildTimestamp(flag: string | undefined): Date {
  if (flag === 'now') return new Date(Math.floor(Date.now() / 1000) * 1000);
  const [text, where] = flag !== undefined ? [flag, '--timestamp'] : [process.env.SOURCE_DATE_EPOCH, 'SOURCE_DATE_EPOCH'];
  if (text === undefined || text === '') return new Date(0);
  if (!/^\d+$/.test(text)) throw new UsageError(`${where}: "${text}" is not a number of seconds since the epoch`, where === '--timestamp' ? 'use --timestamp now or --timestamp SECONDS' : 'set SOURCE_DATE_EPOCH to e.g. $(git log -1 --format=%ct)');
  return new Date(Number(text) * 1000);
}

function sandboxOptions(flags: BuildFlags): SandboxOptions {
  const { isolation, network } = flags;
  if (!(ISOLATIONS as readonly string[]).includes(isolation)) throw new UsageError(`--isolation: unknown value "${isolation}"`, `use ${ISOLATIONS.join(' or ')}`);
  if (!(NETWORK_MODES as readonly string[]).includes(network)) throw new UsageError(`--network: unknown value "${network}"`, `use ${NETWORK_MODES.join(' or ')}`);
  if (isolation === 'none' && network === 'none') throw new UsageError('--network none needs --isolation bwrap', 'without a sandbox a RUN command has the host network');
  return { isolation: isolation as Isolation, network: network as NetworkMode };
}

export function buildCommand(): Command {
  return new Command('build')
    .description('build an image from a Kubefile and a context directory (the default command)')
    .argument('<context>', 'the build context directory')
    .option('-t, --tag <ref>', 'name the image (repeatable)', collect, [])
    .option('-f, --file <path>', 'the Kubefile (default: CONTEXT/Kubefile)')
    .option('--platform <list>', 'os/arch[/variant][,...] to build for (default: this machine)')
    .option('--build-arg <k=v>', 'set a build-time ARG (repeatable)', collect, [])
    .option('--label <k=v>', 'add an image label (repeatable)', collect, [])
    .option('--compression <gzip|zstd|none>', 'layer compression', 'gzip')
    .option('--timestamp <now|seconds>', 'image and file timestamps (default: SOURCE_DATE_EPOCH or 0)')
    .option('--iidfile <file>', 'write the image digest to this file')
    .option('--metadata-file <file>', 'write JSON: digest, tags, platforms with manifest digests and layer sizes, timings')
    .option('--no-cache', 'run every step again instead of reusing cached layers')
    .option('--cache-from <registry=REPO>', 'also take cached layers from this registry repository (tag: buildcache unless given)')
    .option('--cache-to <registry=REPO>', 'after the build, push the layers it used or made to this registry cache (merged with what is there)')
    .option('--isolation <bwrap|none>', 'how RUN commands are sandboxed: bwrap (host read-only) or none', 'bwrap')
    .option('--network <host|none>', 'network for RUN commands (none needs --isolation bwrap)', 'host')
    .option('--image-list <file>', 'more images to cache into registry/, one per line (repeatable)', collect, [])
    .option('--ignored-image-list <file>', 'images not to cache, one per line (repeatable)', collect, [])
    .option('--image-field <kind=path>', 'where a custom resource names images, e.g. Kafka=spec.kafka.image (repeatable)', collect, [])
    .option('--build-mode <full|lite>', 'lite skips caching container images into registry/', 'full')
    .option('--all-platforms', 'cache every platform of each container image, not only the ones built')
    .option('--type <kube-installer|app-installer>', "sealer's image type: app-installer images only install apps onto a running cluster", 'kube-installer')
    .option('--dry-run', 'parse the Kubefile, expand its words, check its context sources and print the plan; build and write nothing')
    .action(async (contextDir: string, flags: BuildFlags, command: Command) => {
      // Every flag is checked before the store is touched.
      const tags = flags.tag.map(refArg);
      await checkOutputFile('--iidfile', flags.iidfile);
      await checkOutputFile('--metadata-file', flags.metadataFile);
      const request = {
        contextDir,
        ...(flags.file !== undefined ? { kubefile: flags.file } : {}),
        tags,
        platforms: flags.platform !== undefined ? parsePlatformList(flags.platform) : [hostPlatform()],
        buildArgs: keyValues(flags.buildArg, '--build-arg', { fromEnv: true, keyPattern: ARG_NAME }),
        labels: keyValues(flags.label, '--label', { fromEnv: false }),
        compression: flags.compression,
        timestamp: buildTimestamp(flags.timestamp),
        images: await imageCaching(flags),
        sandbox: sandboxOptions(flags),
        imageType: flags.type,
      };
      const reporter = reporterFor(command);
      // A build with nothing changed since the last one is that build again (builder/build-record.ts).
      // Not with --no-cache, --dry-run or a registry cache: those always build in full.
      const record = flags.cache && !flags.dryRun && flags.cacheFrom === undefined && flags.cacheTo === undefined
        ? await (await import('../builder/build-record.js')).BuildRecord.open(storeRoot(command), request)
        : undefined;
      const startedAt = new Date();
      const replayed = await record?.replay(storeRoot(command), reporter);
      if (replayed !== undefined) {
        if (globalOptions(command).debug) reporter.info('nothing the last build read has changed: its result is reused (build record)', { buildRecord: 'reused' });
        await finishBuild(flags, command, replayed, tags, startedAt, reporter);
        return;
      }
      // The build machinery loads only when building: other commands start faster.
      const [{ build }, { LAYER_COMPRESSIONS, isLayerCompression }, { RemoteCache, cacheReference }, { IMAGE_TYPES }] = await Promise.all([
        import('../builder/build.js'), import('../layer/layer-writer.js'), import('../builder/remote-cache.js'), import('../builder/sealer-extension.js'),
      ]);
      const { compression } = request;
      if (!isLayerCompression(compression)) throw new UsageError(`--compression: unknown value "${compression}"`, `use ${LAYER_COMPRESSIONS.join(', ')}`);
      const imageType = IMAGE_TYPES.find((t) => t === flags.type);
      if (imageType === undefined) throw new UsageError(`--type: unknown image type "${flags.type}"`, `use ${IMAGE_TYPES.join(' or ')} (sealer's types)`);
      const options = { ...request, compression, imageType, reporter, noCache: !flags.cache, ...(record ? { record } : {}) };
      if (flags.dryRun) {
        const { dryRun } = await import('../builder/dry-run.js');
        const plan = await dryRun({ ...options, listedImages: options.images.extra.map((f) => f.image) });
        process.stdout.write(`${plan.join('\n')}\n`);
        return;
      }
      const cacheFrom = cacheReference('--cache-from', flags.cacheFrom);
      const cacheTo = cacheReference('--cache-to', flags.cacheTo);
      const store = await openStore(command);
      const registries = await registriesFor(command);
      let result;
      try {
        const remoteCache = cacheFrom !== undefined || cacheTo !== undefined
          ? await RemoteCache.open({ registries, reporter: options.reporter, ...(cacheFrom ? { from: cacheFrom } : {}), ...(cacheTo ? { to: cacheTo } : {}) })
          : undefined;
        result = await build({ ...options, store, registries, ...(remoteCache ? { remoteCache } : {}) });
      } finally {
        await registries.close();
      }
      await finishBuild(flags, command, result.descriptor, tags, startedAt, reporter);
    });
}

/** What a build leaves besides the image and its tags: --iidfile, --metadata-file, the last line and the digest on stdout. */
async function finishBuild(flags: BuildFlags, command: Command, descriptor: Descriptor, tags: string[], startedAt: Date, reporter: Reporter): Promise<void> {
  if (flags.iidfile !== undefined) await writeFileAtomic(flags.iidfile, descriptor.digest);
  if (flags.metadataFile !== undefined) await writeBuildReport(flags.metadataFile, await openStore(command), descriptor, tags, startedAt);
  reporter.finish(`Built ${tags.join(', ') || descriptor.digest}`);
  process.stdout.write(`${descriptor.digest}\n`);
}

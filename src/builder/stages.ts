import { expandWord } from '../kubefile/expand.js';
import { expandInstruction } from '../kubefile/expanded.js';
import type { Kubefile } from '../kubefile/instructions.js';
import { manifestLayers } from '../layer/image-model.js';
import { formatPlatform, parsePlatform, samePlatform, type Platform } from '../oci/platform.js';
import { normalizeReference } from '../oci/reference.js';
import { pullImage } from '../transfer/pull.js';
import { readTagged, readTarget, selectPlatform, type ResolvedImage } from '../store/image.js';
import type { BlobBatch } from '../store/store.js';
import { KubefileError, UserError, type SourcePosition } from '../util/errors.js';
import type { BuildOptions } from './options.js';
import type { LayerFactsMemo } from '../runtime/layer-view.js';
import type { LayerCache, StatCache } from './cache.js';
import type { BuildContext } from './context.js';
import { StageBuilder } from './stage-builder.js';
import type { CopySource } from './stage-input.js';
import type { StageResult } from './stage-result.js';
import type { VariableScope } from './variables.js';
import { Workspace } from './workspace.js';

/** What one platform's build shares with the rest of the build. */
export interface StagesInput {
  kubefile: Kubefile;
  platform: Platform;
  globals: VariableScope;
  context: BuildContext;
  batch: BlobBatch;
  options: BuildOptions;
  cache: LayerCache;
  statCache: StatCache;
  /** What each layer holds, for the airgap scan and the runtime contract. */
  facts: LayerFactsMemo;
  /** Workspaces to remove when the build ends. */
  workspaces: Workspace[];
}

/** The image's stage, built, with what the image config needs from around it. */
export interface LastStage {
  result: StageResult;
  scope: VariableScope;
  /** The last stage's FROM image, for the base annotations (undefined for scratch or a stage). */
  base: ResolvedImage | undefined;
  baseName: string | undefined;
}

/**
 * Builds the stages the last one needs, in Kubefile order, and returns the last. A stage is
 * needed when a needed stage names it in `FROM` or `COPY --from` (by name or index); others
 * are not built at all. `--from` values and FROM images expand with the global ARGs, as
 * FROM does, so which stages are needed is known before any is built.
 */
export async function buildStages(input: StagesInput): Promise<LastStage> {
  const { kubefile, platform, globals, options } = input;
  const needed = neededStages(kubefile, globals);
  const stepTotal = needed.reduce((n, i) => n + kubefile.stages[i]!.instructions.length + 1, 0);
  const built = new Map<number, { result: StageResult; builder: StageBuilder }>();
  const images = new Map<string, Promise<CopySource>>();
  let stepOffset = 1;
  let last: LastStage | undefined;
  for (const index of needed) {
    const stage = kubefile.stages[index]!;
    const from = expandInstruction(stage.from, globals.lookup);
    const imageName = from.image;
    const baseStage = stageIndex(kubefile, imageName, index, from.pos);
    let base: ResolvedImage | undefined;
    let baseName: string | undefined;
    if (baseStage === undefined && imageName !== 'scratch') {
      const basePlatform = from.platform === undefined ? platform : parsePlatform(from.platform, 'FROM --platform');
      [baseName, base] = await atFrom(from.pos, imageName, async () => {
        const name = normalizeReference(imageName);
        return [name, await baseImage(name, imageName, basePlatform, options)] as const;
      });
    }
    const scope = globals.stageScope();
    const copySource = async (value: string, pos: SourcePosition): Promise<CopySource> => {
      const source = stageIndex(kubefile, value, index, pos);
      if (source !== undefined) {
        const done = built.get(source);
        if (done === undefined) throw new KubefileError(pos, `COPY --from=${value}: that stage was not built (its name came from a stage ARG)`, 'name the stage literally or with a global ARG');
        return { key: done.result.key, label: `stage "${value}"`, dir: () => done.builder.materialize() };
      }
      let image = images.get(value);
      if (image === undefined) {
        image = imageSource(value, pos, input);
        images.set(value, image);
      }
      return image;
    };
    // The builder reads the base image's own documents (the sealer annotation) as it starts.
    const builder = await atFrom(from.pos, imageName, () => new StageBuilder({
      stage, platform, scope, base: baseStage === undefined ? base : built.get(baseStage)!.result, context: input.context, store: options.store, batch: input.batch,
      reporter: options.reporter, compression: options.compression, timestamp: options.timestamp, stepOffset, stepTotal,
      cache: input.cache, statCache: input.statCache, facts: input.facts, noCache: options.noCache, sandbox: options.sandbox, copySource, track: (w) => input.workspaces.push(w), record: options.record,
    }));
    const result = await builder.run();
    built.set(index, { result, builder });
    stepOffset += stage.instructions.length + 1;
    last = { result, scope, base, baseName };
  }
  return last!;
}

/** Runs `start`, which reads the FROM image, with its errors placed at the FROM line. */
async function atFrom<T>(pos: SourcePosition, imageName: string, start: () => T | Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (err instanceof UserError && !(err instanceof KubefileError)) throw new KubefileError(pos, `FROM ${imageName}: ${err.message}`, err.hint);
    throw err;
  }
}

/** Indices of the stages the last stage depends on, itself included, in order. */
export function neededStages(kubefile: Kubefile, globals: VariableScope): number[] {
  const needed = new Set<number>();
  const visit = (index: number): void => {
    if (needed.has(index)) return;
    needed.add(index);
    const stage = kubefile.stages[index]!;
    const base = stageIndex(kubefile, expandInstruction(stage.from, globals.lookup).image, index, stage.from.pos);
    if (base !== undefined) visit(base);
    for (const ins of stage.instructions) {
      if (ins.kind !== 'COPY' || ins.from === undefined) continue;
      const source = stageIndex(kubefile, expandWord(ins.from, globals.lookup, ins.pos), index, ins.pos);
      if (source !== undefined) visit(source);
    }
  };
  visit(kubefile.stages.length - 1);
  return [...needed].sort((a, b) => a - b);
}

/**
 * The stage `value` names from stage `current`: a stage name (`AS name`) or a number, of an
 * earlier stage; undefined when it names an image. A stage cannot use itself or a later one.
 */
function stageIndex(kubefile: Kubefile, value: string, current: number, pos: SourcePosition): number | undefined {
  const named = kubefile.stages.find((s) => s.from.alias !== undefined && s.from.alias === value.toLowerCase());
  const index = named?.index ?? (/^\d+$/.test(value) ? Number(value) : undefined);
  if (index === undefined) return undefined;
  if (index >= current) {
    throw new KubefileError(pos, index === current ? `stage "${value}" cannot use itself` : `stage "${value}" comes later in the Kubefile`, 'a stage can only use the stages before it');
  }
  return index;
}

/** COPY --from=<image>: the image for this platform, from the store or pulled, unpacked on first use. */
async function imageSource(value: string, pos: SourcePosition, input: StagesInput): Promise<CopySource> {
  let image: ResolvedImage;
  try {
    image = await baseImage(normalizeReference(value), value, input.platform, input.options);
  } catch (err) {
    if (err instanceof UserError) throw new KubefileError(pos, `COPY --from=${value}: ${err.message}`, err.hint);
    throw err;
  }
  let dir: Promise<string> | undefined;
  return {
    key: `image:${image.descriptor.digest}`,
    label: `image "${value}" (${formatPlatform(image.platform)})`,
    dir: () => {
      dir ??= (async () => {
        const workspace = await Workspace.create(input.options.store);
        input.workspaces.push(workspace);
        const owner = `image "${value}"`;
        await workspace.sync(manifestLayers(image.manifest.layers, image.config.rootfs.diff_ids, (d) => input.batch.pathOf(d), owner), owner);
        return workspace.dir;
      })();
      return dir;
    },
  };
}

/**
 * An image for one platform: from the store when it has it (so rebuilds work offline),
 * else pulled from its registry first.
 */
export async function baseImage(name: string, shown: string, platform: Platform, options: BuildOptions): Promise<ResolvedImage> {
  const stored = await options.store.resolveTag(name);
  if (stored) {
    const target = await readTarget(options.store, stored);
    if (target.images.some((image) => samePlatform(image.platform, platform))) {
      options.record?.resolved(name, stored.digest);
      return selectPlatform(target, platform, shown);
    }
  }
  options.record?.external(`image ${shown} pulled`);
  await pullImage(options.store, shown, { platforms: [platform], registries: options.registries, reporter: options.reporter });
  return selectPlatform(await readTagged(options.store, name, shown), platform, shown);
}

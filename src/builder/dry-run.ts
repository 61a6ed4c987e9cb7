import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { discoverImages, expandFound, type ImageCachingOptions } from '../airgap/cache-images.js';
import { isDocumentPath } from '../airgap/documents.js';
import { formatImageFileSpec } from '../airgap/image-files.js';
import { declareArgs, expandInstruction } from '../kubefile/expanded.js';
import type { Instruction, Kubefile } from '../kubefile/instructions.js';
import { sniffArchive } from '../layer/decompress.js';
import { formatPlatform, type Platform } from '../oci/platform.js';
import type { SourcePosition } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import { EntryCollector, imagePath } from './collect.js';
import { BuildContext, type ContextSource } from './context.js';
import { readKubefile } from './kubefile-source.js';
import { APPS_ROOT } from './stage-builder.js';
import { globalScope, type VariableScope } from './variables.js';

export interface DryRunOptions {
  contextDir: string;
  kubefile?: string;
  platforms: Platform[];
  buildArgs: Map<string, string>;
  reporter: Reporter;
  /** Images --image-list names. */
  listedImages: string[];
  /** --image-field, --ignored-image-list and the build mode (lite caches nothing). */
  images: ImageCachingOptions;
}

/**
 * What the steps of one stage put into the rootfs from the build context, as far as the image
 * scan reads it: the documents under manifests/, charts/ and application/apps/ (image path ->
 * host path), and the directories made (a file copied onto one goes inside it, as in the build).
 */
class PlannedFiles {
  readonly documents = new Map<string, string>();
  readonly dirs = new Set<string>();
  workdir = '/';

  constructor(private readonly context: BuildContext, private readonly warn: (message: string) => void) {}

  /** A context file or directory placed at `dest` (image path), as EntryCollector places it in the build. */
  async add(src: ContextSource, dest: string): Promise<void> {
    const collector = new EntryCollector({ uid: 0, gid: 0, ignored: (rel) => this.context.isIgnored(rel), warn: this.warn });
    collector.add(src.abs, src.stats, dest, src.rel);
    for (const entry of collector.result()) {
      if (entry.type === 'directory') this.dirs.add(entry.path);
      else if (entry.type === 'file' && entry.source !== undefined && isDocumentPath(entry.path)) this.documents.set(entry.path, entry.source);
      else this.documents.delete(entry.path);
    }
  }

  async read(): Promise<Map<string, Buffer>> {
    const files = new Map<string, Buffer>();
    for (const [path, host] of this.documents) files.set(path, await readFile(host));
    return files;
  }
}

/**
 * `build --dry-run`: the Kubefile parsed, every word expanded and every context source
 * resolved, per platform, with nothing pulled, run or written. Returns the plan's lines;
 * throws the error the build would meet first in these checks. Variables a base image's ENV
 * would set are unknown here (the base is not read).
 */
export async function dryRun(options: DryRunOptions): Promise<string[]> {
  const context = await BuildContext.open(options.contextDir, (message) => options.reporter.warn(message));
  const kubefile = await readKubefile(options.contextDir, options.kubefile, options.reporter);
  const lines: string[] = [];
  for (const platform of options.platforms) {
    lines.push(`platform ${formatPlatform(platform)}`);
    const { steps, planned, lookup } = await planPlatform(kubefile, platform, context, options);
    lines.push(...steps);
    if (options.images.mode === 'full') lines.push(...(await plannedImages(planned, lookup, options)));
  }
  lines.push(`images from --image-list: ${options.listedImages.length === 0 ? 'none' : options.listedImages.join(' ')}`);
  return lines;
}

/**
 * The images the build would cache from the documents the last stage copies from the context,
 * found as the build finds them (manifests, image lists, charts rendered with helm), with the
 * platform's variables expanded and --ignored-image-list applied.
 */
async function plannedImages(planned: PlannedFiles, lookup: (name: string) => string | undefined, options: DryRunOptions): Promise<string[]> {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const f of await discoverImages(await planned.read(), options.images.fields, options.reporter)) {
    const image = expandFound(f, lookup, options.reporter);
    if (image === undefined) continue;
    const name = 'spec' in image ? formatImageFileSpec(image.spec) : image.name;
    if (options.images.ignored.has(name) || seen.has(name)) continue;
    seen.add(name);
    lines.push(`  image ${name} (${f.source})`);
  }
  return lines.length > 0 ? lines : ['  images from manifests and charts: none'];
}

async function planPlatform(kubefile: Kubefile, platform: Platform, context: BuildContext, options: DryRunOptions): Promise<{ steps: string[]; planned: PlannedFiles; lookup: (name: string) => string | undefined }> {
  const globals = globalScope(kubefile, options.buildArgs, platform);
  const lines: string[] = [];
  let planned = new PlannedFiles(context, (m) => options.reporter.warn(m));
  let lookup = globals.lookup;
  for (const stage of kubefile.stages) {
    const scope = globals.stageScope();
    // Only the last stage is the image: its documents are the ones scanned.
    planned = new PlannedFiles(context, (m) => options.reporter.warn(m));
    lookup = scope.lookup;
    const { image } = expandInstruction(stage.from, globals.lookup);
    lines.push(`  stage ${stage.index}${stage.from.alias !== undefined ? ` (${stage.from.alias})` : ''}: FROM ${image}`);
    for (const ins of stage.instructions) lines.push(`    ${await step(ins, scope, context, planned)}`);
  }
  return { steps: lines, planned, lookup };
}

/** COPY/ADD from the context into the planned rootfs, with the build's destination rules. */
async function placeSources(ins: { kind: 'COPY' | 'ADD'; pos: SourcePosition }, sources: ContextSource[], dest: string, planned: PlannedFiles): Promise<void> {
  const destPath = imagePath(dest, planned.workdir);
  const intoDir = dest.endsWith('/') || planned.dirs.has(destPath);
  for (const src of sources) {
    if (src.stats.isDirectory()) await planned.add(src, destPath);
    // A local archive ADD unpacks is not read here (its documents are found by the build only).
    else if (ins.kind === 'ADD' && (await sniffArchive(src.abs)).isTar) continue;
    else await planned.add(src, intoDir ? posix.join(destPath, src.name) : destPath);
  }
}

/** One step with its words expanded; ARG and ENV also update the scope, as the build does. */
async function step(written: Exclude<Instruction, { kind: 'FROM' }>, scope: VariableScope, context: BuildContext, planned: PlannedFiles): Promise<string> {
  if (written.kind === 'ARG') {
    declareArgs(written, scope);
    return `ARG ${written.args.map((a) => `${a.name}=${scope.lookup(a.name) ?? ''}`).join(' ')}`;
  }
  const ins = expandInstruction(written, scope.lookup);
  switch (ins.kind) {
    case 'ENV':
      for (const { key, value } of ins.pairs) scope.setEnv(key, value);
      return `ENV ${ins.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
    case 'LABEL':
    case 'APPENV':
      return `${ins.kind} ${ins.kind === 'APPENV' ? `${ins.name} ` : ''}${ins.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`;
    case 'COPY':
    case 'ADD': {
      const { sources } = ins;
      // Sources from the context must exist there (COPY --from ones are in a stage or image).
      if (ins.kind === 'ADD' || ins.from === undefined) {
        const resolved: ContextSource[] = [];
        for (const source of sources) if (!/^https?:\/\//.test(source)) resolved.push(...(await context.resolve(source, ins.kind, ins.pos)));
        await placeSources(ins, resolved, ins.dest, planned);
      }
      return `${ins.kind}${ins.kind === 'COPY' && ins.from !== undefined ? ` --from=${ins.from}` : ''} ${sources.join(' ')} -> ${ins.dest}`;
    }
    case 'APP':
    case 'CNI':
    case 'CSI': {
      const { sources } = ins;
      // As the build places them: a directory's contents at the app's root, a file inside it.
      const appRoot = `${APPS_ROOT}/${ins.name}`;
      for (const source of sources) {
        if (/^https?:\/\//.test(source)) continue;
        for (const src of await context.resolve(source.replace(/^local:\/\//, ''), ins.kind, ins.pos)) {
          await planned.add(src, src.stats.isDirectory() ? appRoot : `${appRoot}/${src.name}`);
        }
      }
      return `${ins.kind} ${ins.name} ${sources.join(' ')} -> application/apps/${ins.name}/`;
    }
    case 'MAINTAINER':
      return `MAINTAINER ${ins.name}`;
    case 'KUBEVERSION':
      return `KUBEVERSION ${ins.version}`;
    case 'USER':
      return `USER ${ins.user}`;
    case 'WORKDIR':
      planned.workdir = posix.resolve(planned.workdir, ins.path);
      return `WORKDIR ${ins.path}`;
    case 'STOPSIGNAL':
      return `STOPSIGNAL ${ins.signal}`;
    case 'EXPOSE':
      return `EXPOSE ${ins.ports.join(' ')}`;
    case 'VOLUME':
      return `VOLUME ${ins.paths.join(' ')}`;
    default:
      // RUN, CMD, CMDS, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, LAUNCH, APPCMDS: no words to expand.
      return ins.text;
  }
}

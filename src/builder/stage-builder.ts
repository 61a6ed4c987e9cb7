import type { Stats } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { posix, join } from 'node:path';
import { type Digest } from '../oci/digest.js';
import { Annotation } from '../oci/media-types.js';
import { formatPlatform, type Platform } from '../oci/platform.js';
import { expandWord } from '../kubefile/expand.js';
import type { AddInstruction, AppInstruction, CopyInstruction, Instruction, KeyValue, RunInstruction, Stage, WorkdirInstruction } from '../kubefile/instructions.js';
import { parseKubefile } from '../kubefile/parse.js';
import { ConfigWriter, inheritedConfig, runShell, type ContainerConfig } from './container-config.js';
import { decompressFile, sniffArchive } from '../layer/decompress.js';
import { manifestLayers, type ImageDraft, type Layer } from '../layer/image-model.js';
import { diffSnapshot, diffUpper, listDirectories, takeSnapshot } from '../layer/diff.js';
import { extractTar } from '../layer/extract.js';
import { writeLayer, type LayerCompression } from '../layer/layer-writer.js';
import type { LayerEntry } from '../layer/tar-writer.js';
import type { LayerFactsMemo } from '../runtime/rootfs.js';
import type { BlobBatch, Store } from '../store/store.js';
import type { ResolvedImage } from '../store/image.js';
import { KubefileError, type SourcePosition } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import { cacheDir, cacheKey, type LayerCache, type StatCache } from './cache.js';
import { EntryCollector, type Ownership } from './collect.js';
import { BuildContext } from './context.js';
import { RootfsIndex } from './rootfs-index.js';
import { opaqueDirectories, overlayTools } from './overlay.js';
import { runCommand, type SandboxOptions } from './sandbox.js';
import { StepInputs, type Source } from './step-inputs.js';
import { SealerMetadata, SealerExtensionSchema, type SealerExtension } from './sealer-metadata.js';
import { detectApp, type AppSource } from './app-type.js';
import { downloadUrl, expandedChecksum, isUrl, urlFileName } from './url-source.js';
import type { VariableScope } from './variables.js';
import { removeTree } from '../util/remove-tree.js';
import { Workspace } from './workspace.js';

/** What COPY --from reads: a stage's or an image's filesystem. */
export interface CopySource {
  /** Stands for the whole filesystem in cache keys: a stage's last key, an image's manifest digest. */
  key: string;
  /** Names it in messages, e.g. `stage "builder"`. */
  label: string;
  /** The filesystem unpacked into a directory (made on first use). */
  dir(): Promise<string>;
}

export interface StageBuildInput {
  stage: Stage;
  platform: Platform;
  scope: VariableScope;
  /** FROM an image, or FROM an earlier stage (its result), or neither for scratch. */
  base: ResolvedImage | StageResult | undefined;
  context: BuildContext;
  store: Store;
  batch: BlobBatch;
  reporter: Reporter;
  compression: LayerCompression;
  /** Every timestamp in the image: `created`, history and file mtimes. */
  timestamp: Date;
  /** Numbering for progress lines across the whole build. */
  stepOffset: number;
  stepTotal: number;
  cache: LayerCache;
  statCache: StatCache;
  /** What each layer holds: every layer written is scanned as it streams past. */
  facts: LayerFactsMemo;
  /** --no-cache: build every step (and still record what was built). */
  noCache: boolean;
  sandbox: SandboxOptions;
  /** COPY --from=VALUE (expanded): a stage name or index, or an image reference. */
  copySource: (from: string, pos: SourcePosition) => Promise<CopySource>;
  /** Takes the stage's workspace, to remove it when the build ends. */
  track: (workspace: Workspace) => void;
}

/** What a stage produced: everything the image config and manifest need. */
export interface StageResult extends ImageDraft {
  /** User, Cmd, Entrypoint, WorkingDir, ... (container-config.ts). */
  config: ContainerConfig;
  sealer: SealerMetadata;
  /** The cache key of the stage's filesystem: its last layer step's, or its base's. */
  key: Digest;
}

const APPS_ROOT = 'application/apps';
/** docker's PATH for RUN when neither the image nor the Kubefile sets one. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';


/** Executes one stage for one platform: one handler per instruction kind. */
export class StageBuilder {
  private readonly result: StageResult;
  private readonly rootfs: RootfsIndex;
  private readonly created: string;
  private workspace: Workspace | undefined;
  private readonly config: ConfigWriter;
  /** The base's ONBUILD triggers, run before the stage's own instructions. */
  private readonly triggers: string[];

  constructor(private readonly input: StageBuildInput) {
    const base = input.base;
    this.rootfs = new RootfsIndex(join(cacheDir(input.store.root), 'rootfs-index'), input.batch);
    this.created = input.timestamp.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const rootKey = cacheKey({
      platform: formatPlatform(input.platform),
      compression: input.compression,
      mtime: input.timestamp.getTime(),
      base: base === undefined ? 'scratch' : 'key' in base ? base.key : base.descriptor.digest,
    });
    if (base !== undefined && 'key' in base) {
      this.result = {
        layers: [...base.layers], history: [...base.history], env: new Map(base.env), labels: new Map(base.labels),
        author: base.author, config: inheritedConfig(base.config), sealer: new SealerMetadata(base.sealer.toExtension(''), true), key: rootKey,
      };
      this.triggers = base.config.OnBuild ?? [];
    } else {
      const baseExtension = base?.manifest.annotations?.[Annotation.sealerExtension];
      this.result = {
        layers: base === undefined ? [] : manifestLayers(base.manifest.layers, base.config.rootfs.diff_ids, (d) => input.batch.pathOf(d), input.stage.from.text),
        history: [...(base?.config.history ?? [])],
        env: new Map((base?.config.config?.Env ?? []).map((kv) => splitEnv(kv))),
        labels: new Map(Object.entries(base?.config.config?.Labels ?? {})),
        author: base?.config.author,
        config: inheritedConfig(base?.config.config),
        sealer: new SealerMetadata(baseExtension ? (SealerExtensionSchema.parse(JSON.parse(baseExtension)) as SealerExtension) : undefined),
        key: rootKey,
      };
      this.triggers = base?.config.config?.OnBuild ?? [];
    }
    this.config = new ConfigWriter(this.result.config, (word, pos) => this.expand(word, pos));
    for (const [k, v] of this.result.env) input.scope.setEnv(k, v);
    for (const layer of this.result.layers) this.rootfs.applyLater(layer);
  }

  async run(): Promise<StageResult> {
    const { stage, platform, reporter, stepOffset, stepTotal } = this.input;
    reporter.step(stepOffset, stepTotal, stage.from.text, formatPlatform(platform));
    for (const instruction of onbuildTriggers(this.triggers, stage.from.image)) {
      reporter.info(`  ONBUILD ${instruction.text}`, { onbuild: instruction.text });
      await this.execute(instruction);
    }
    let step = stepOffset;
    for (const instruction of stage.instructions) {
      step += 1;
      reporter.step(step, stepTotal, instruction.text, formatPlatform(platform));
      await this.execute(instruction);
    }
    this.result.sealer.validate();
    return this.result;
  }

  /** The stage's filesystem as a directory, for COPY --from (call after run()). */
  async materialize(): Promise<string> {
    const workspace = await this.ensureWorkspace();
    await workspace.sync(this.result.layers, this.input.stage.from.text);
    return workspace.dir;
  }

  private async execute(ins: Exclude<Instruction, { kind: 'FROM' }>): Promise<void> {
    const scope = this.input.scope;
    switch (ins.kind) {
      case 'ARG':
        for (const arg of ins.args) scope.declareArg(arg.name, arg.defaultValue === undefined ? undefined : this.expand(arg.defaultValue, ins.pos));
        return this.emptyLayer(ins.text);
      case 'ENV': {
        // All values see the variables as they were before this line, as in docker.
        const pairs = this.expandPairs(ins.pairs, ins.pos);
        for (const [k, v] of pairs) {
          this.result.env.set(k, v);
          this.result.sealer.setEnv(k, v);
          scope.setEnv(k, v);
        }
        return this.emptyLayer(ins.text);
      }
      case 'LABEL':
        for (const [k, v] of this.expandPairs(ins.pairs, ins.pos)) this.result.labels.set(k, v);
        return this.emptyLayer(ins.text);
      case 'MAINTAINER':
        this.result.author = this.expand(ins.name, ins.pos);
        return this.emptyLayer(ins.text);
      case 'KUBEVERSION':
        this.result.labels.set('app.alpha.sealer.io/supported-kube-version', this.expand(ins.version, ins.pos));
        return this.emptyLayer(ins.text);
      case 'CMD':
        this.result.sealer.addCmds([ins.command]);
        this.config.apply(ins);
        return this.emptyLayer(ins.text);
      case 'WORKDIR':
        return this.workdir(ins);
      case 'ENTRYPOINT':
      case 'USER':
      case 'EXPOSE':
      case 'VOLUME':
      case 'STOPSIGNAL':
      case 'SHELL':
      case 'HEALTHCHECK':
      case 'ONBUILD':
        this.config.apply(ins);
        return this.emptyLayer(ins.text);
      case 'CMDS':
        this.result.sealer.addCmds(ins.commands);
        return this.emptyLayer(ins.text);
      case 'LAUNCH':
        this.result.sealer.launch(ins.apps, ins.pos);
        return this.emptyLayer(ins.text);
      case 'APPCMDS':
        this.result.sealer.setAppCmds(ins.name, ins.commands, ins.pos);
        return this.emptyLayer(ins.text);
      case 'APPENV':
        this.result.sealer.setAppEnv(ins.name, Object.fromEntries(this.expandPairs(ins.pairs, ins.pos)), ins.pos);
        return this.emptyLayer(ins.text);
      case 'COPY':
      case 'ADD':
        return this.copy(ins);
      case 'APP':
      case 'CNI':
      case 'CSI':
        return this.app(ins);
      case 'RUN':
        return this.runStep(ins);
    }
  }

  private async copy(ins: CopyInstruction | AddInstruction): Promise<void> {
    const sources = ins.sources.map((s) => this.expand(s, ins.pos));
    const dest = this.expand(ins.dest, ins.pos);
    const destPath = imagePath(dest, this.result.config.WorkingDir);
    const owner = ownership(ins, this.input.scope, ins.pos);
    const from = ins.kind === 'COPY' && ins.from !== undefined ? await this.input.copySource(this.expand(ins.from, ins.pos), ins.pos) : undefined;
    const temps: string[] = [];
    try {
      const step = { kind: ins.kind, sources, dest, owner };
      // COPY --from: the source filesystem is named by its own key, so a hit needs no files.
      if (from !== undefined && (await this.reuse(cacheKey({ parent: this.result.key, step, from: from.key }), ins.text))) return;
      const context = from === undefined ? this.input.context : BuildContext.rootfs(await from.dir(), from.label);
      const resolved: Source[] = [];
      for (const source of sources) {
        if (!isUrl(source)) {
          for (const src of await context.resolve(source, ins.kind, ins.pos)) resolved.push({ src });
        } else if (ins.kind === 'COPY') {
          throw new KubefileError(ins.pos, `COPY cannot download "${source}"`, 'use ADD <url> <dest> --checksum=sha256:…');
        } else {
          resolved.push(await this.urlSource(source, ins.checksum === undefined ? undefined : expandedChecksum(this.expand(ins.checksum, ins.pos), ins.checksum, ins.pos), temps, ins.pos));
        }
      }
      const parent = this.result.key;
      const inputs = from === undefined ? await this.stepInputs(resolved, step) : undefined;
      const keyOf = (i: StepInputs) => cacheKey({ parent, step, inputs: i.key() });
      if (inputs?.complete && (await this.reuse(keyOf(inputs), ins.text))) return;
      await this.rootfs.ready();
      const collector = new EntryCollector({ ...owner, ignored: from === undefined ? (rel) => this.input.context.isIgnored(rel) : undefined, warn: (m) => this.input.reporter.warn(m) });
      const intoDir = dest.endsWith('/') || this.rootfs.isDirectory(destPath);
      if (resolved.length > 1 && !intoDir) {
        throw new KubefileError(ins.pos, `${ins.kind} with more than one source needs a directory destination ending in "/" (got "${dest}")`, `write ${dest}/`);
      }
      for (const item of resolved) {
        if ('url' in item) {
          const download = item.download ?? (await this.download(item.url, item.checksum, temps, ins.pos));
          inputs?.addDownload(download.path, download.digest);
          const target = intoDir ? posix.join(destPath, urlFileName(item.url, ins.pos)) : destPath;
          collector.addFile(target, download.path, download.size, 0o600);
          collector.addParents(target, this.rootfs.modeOf);
          continue;
        }
        const { src } = item;
        if (src.stats.isDirectory()) {
          await collector.add(src.abs, src.stats, destPath, from === undefined ? src.rel : undefined);
          collector.addParents(destPath, this.rootfs.modeOf);
          continue;
        }
        if (ins.kind === 'ADD' && (await sniffArchive(src.abs)).isTar) {
          await this.extractArchive(src.abs, src.written, destPath, collector, temps, ins.pos);
          continue;
        }
        const target = intoDir ? posix.join(destPath, posix.basename(src.rel)) : destPath;
        await collector.add(src.abs, src.stats, target, src.rel);
        collector.addParents(target, this.rootfs.modeOf);
      }
      await this.commitLayer(collector.result(), ins.text, inputs && { inputs, keyOf });
    } finally {
      await Promise.all(temps.map((t) => rm(t, { recursive: true, force: true })));
    }
  }

  /**
   * A URL source. With a checksum, the checksum stands for the content and nothing is
   * downloaded unless the step misses the cache. Without one, the content can change at any
   * time, so it is downloaded on every build and its digest goes into the key (what docker's
   * builder does): an unchanged download still hits.
   */
  private async urlSource(url: string, checksum: Digest | undefined, temps: string[], pos: SourcePosition): Promise<Source> {
    if (checksum !== undefined) return { url, checksum };
    return { url, download: await this.download(url, undefined, temps, pos) };
  }

  private async download(url: string, checksum: Digest | undefined, temps: string[], pos: SourcePosition): Promise<{ path: string; size: number; digest: Digest }> {
    const path = join(await this.tempDir(temps), 'download');
    const { digest, size } = await downloadUrl(url, path, checksum, pos);
    return { path, size, digest };
  }

  /** The step's inputs; their unknown files are hashed now only if a cached layer could be found by them. */
  private async stepInputs(resolved: readonly Source[], step: unknown): Promise<StepInputs> {
    const { cache, statCache, context } = this.input;
    const stepKey = cacheKey({ step });
    const deferred = !(await cache.knowsStep(stepKey));
    cache.markStep(stepKey);
    return StepInputs.collect(resolved, { statCache, ignored: (rel) => context.isIgnored(rel), deferred });
  }

  /** ADD of a local archive: unpacked safely into scratch space, then copied like a directory. */
  private async extractArchive(abs: string, written: string, destPath: string, collector: EntryCollector, temps: string[], pos: SourcePosition): Promise<void> {
    const dir = await this.tempDir(temps);
    const { compression } = await sniffArchive(abs);
    try {
      await extractTar(decompressFile(abs, compression), dir, { whiteouts: false, label: written });
    } catch (err) {
      throw new KubefileError(pos, `ADD ${written}: ${(err as Error).message}`, 'the archive is damaged or unsafe; nothing was stored');
    }
    await collector.add(dir, await stat(dir), destPath, undefined);
    collector.addParents(destPath, this.rootfs.modeOf);
  }

  /**
   * APP/CNI/CSI: the sources go to application/apps/NAME/ as sealer's `COPY SRC... APPROOT/`
   * puts them (a directory's contents, a file by its name), with the type and files sealer
   * records (app-type.ts).
   */
  private async app(ins: AppInstruction): Promise<void> {
    const appRoot = `${APPS_ROOT}/${ins.name}`;
    const temps: string[] = [];
    const written = ins.sources.map((s) => this.expand(s, ins.pos));
    const ignored = (rel: string) => this.input.context.isIgnored(rel);
    try {
      const resolved: { source: Source; dest: string }[] = [];
      const detected: AppSource[] = [];
      for (const source of written) {
        if (isUrl(source)) {
          const name = urlFileName(source, ins.pos);
          resolved.push({ source: await this.urlSource(source, undefined, temps, ins.pos), dest: `${appRoot}/${name}` });
          detected.push({ kind: 'file', name });
          continue;
        }
        for (const src of await this.input.context.resolve(source.replace(/^local:\/\//, ''), ins.kind, ins.pos)) {
          const dir = src.stats.isDirectory();
          const name = posix.basename(src.rel || this.input.context.root);
          resolved.push({ source: { src }, dest: dir ? appRoot : `${appRoot}/${name}` });
          detected.push(dir ? { kind: 'dir', abs: src.abs, rel: src.rel } : { kind: 'file', name });
        }
      }
      const { type, files } = await detectApp(ins.name, detected, ignored);
      this.result.sealer.addApp(ins.name, type, files, ins.pos);
      if (ins.kind !== 'APP') this.result.labels.set(`cluster.alpha.sealer.io/kube-${ins.kind.toLowerCase()}-${ins.name}`, 'true');
      const step = { kind: ins.kind, name: ins.name, sources: written, dests: resolved.map((r) => r.dest) };
      const parent = this.result.key;
      const inputs = await this.stepInputs(resolved.map((r) => r.source), step);
      const keyOf = (i: StepInputs) => cacheKey({ parent, step, inputs: i.key() });
      if (inputs.complete && (await this.reuse(keyOf(inputs), ins.text))) return;
      await this.rootfs.ready();
      const collector = new EntryCollector({ uid: 0, gid: 0, ignored, warn: (m) => this.input.reporter.warn(m) });
      for (const { source, dest } of resolved) {
        if ('url' in source) collector.addFile(dest, source.download!.path, source.download!.size, 0o644);
        else await collector.add(source.src.abs, source.src.stats, dest, source.src.rel);
      }
      collector.addParents(`${appRoot}/x`, this.rootfs.modeOf);
      await this.commitLayer(collector.result(), ins.text, { inputs, keyOf });
    } finally {
      await Promise.all(temps.map((t) => rm(t, { recursive: true, force: true })));
    }
  }

  /**
   * RUN: the command runs on the build host (sealer's model: host tools such as wget or
   * kubeadm, the stage's rootfs as the working directory), sandboxed as --isolation says.
   * Its environment is the declared ARGs and ENV, nothing of sealbuild's. Whatever it changes
   * in the rootfs becomes one layer: an overlayfs upper directory when overlayfs can be
   * mounted, else the difference of stat snapshots taken before and after (overlay.ts).
   */
  private async runStep(ins: RunInstruction): Promise<void> {
    const env = this.input.scope.runEnvironment();
    if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
    const argv = ins.form === 'shell' ? [...runShell(this.result.config), ins.args[0]!] : ins.args;
    // The sandbox is an input too: a command that downloads succeeds with the host network and
    // fails without it, and one that writes outside the rootfs does so only unsandboxed.
    const { isolation, network } = this.input.sandbox;
    const sortedEnv = [...env].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = cacheKey({ parent: this.result.key, step: { kind: 'RUN', argv, env: sortedEnv, isolation, network } });
    if (await this.reuse(key, ins.text)) return;
    const workspace = await this.ensureWorkspace();
    await workspace.sync(this.result.layers, this.input.stage.from.text);
    const temps: string[] = [];
    try {
      const scratch = await this.tempDir(temps);
      const tools = await overlayTools(scratch);
      const dirs = { lower: workspace.dir, upper: join(scratch, 'upper'), work: join(scratch, 'work') };
      const merged = join(scratch, 'merged');
      if (tools) for (const dir of [dirs.upper, dirs.work, merged]) await mkdir(dir);
      const before = tools ? undefined : await takeSnapshot(workspace.dir);
      const { reporter } = this.input;
      const outcome = await runCommand({
        argv, dir: tools ? merged : workspace.dir, env: Object.fromEntries(env), scratch, onLine: (line) => reporter.output(line),
        ...(tools ? { overlay: { tools, dirs } } : {}),
      }, this.input.sandbox);
      if (outcome.code !== 0) {
        const how = outcome.code === undefined ? `was killed by ${outcome.signal}` : `failed with exit code ${outcome.code}`;
        const tail = outcome.tail.map((l) => l.replace(/[\x00-\x1f\x7f]/g, ' ').trim()).filter((l) => l !== '').join(' | ');
        throw new KubefileError(ins.pos, `RUN ${how}${tail === '' ? ' (no output)' : `: ${tail.length > 400 ? `…${tail.slice(-400)}` : tail}`}`, 'fix the command or what it needs; nothing was stored');
      }
      const own = process.getuid?.();
      const options = {
        owner: (s: Stats) => (own === 0 || s.uid !== own ? { uid: s.uid, gid: s.gid } : { uid: 0, gid: 0 }),
        warn: (m: string) => this.input.reporter.warn(m),
      };
      const entries = tools
        ? await diffUpper(dirs.upper, await opaqueDirectories(tools, dirs.upper, await listDirectories(dirs.upper)), options)
        : await diffSnapshot(workspace.dir, before!, options);
      await this.rootfs.ready();
      await this.commitLayer(entries, ins.text);
      // The layer normalised times and owners: unpack it over the changes, so that the next
      // RUN sees exactly the image's files whether this step ran now or came from the cache.
      await workspace.sync(this.result.layers, this.input.stage.from.text);
    } finally {
      // The command may have left read-only directories in its HOME.
      await Promise.all(temps.map((t) => removeTree(t)));
    }
  }

  /**
   * WORKDIR sets the config's WorkingDir and creates the directory when the rootfs lacks it
   * (as docker does), in a layer of its own. RUN still runs at the rootfs root (sealer's model).
   */
  private async workdir(ins: WorkdirInstruction): Promise<void> {
    const path = this.config.workdir(ins);
    if (path === '') return this.emptyLayer(ins.text);
    if (await this.reuse(cacheKey({ parent: this.result.key, step: { kind: 'WORKDIR', path } }), ins.text)) return;
    await this.rootfs.ready();
    if (this.rootfs.isDirectory(path)) return this.emptyLayer(ins.text);
    const collector = new EntryCollector({ uid: 0, gid: 0, warn: (m) => this.input.reporter.warn(m) });
    collector.addParents(`${path}/.`, this.rootfs.modeOf);
    await this.commitLayer(collector.result(), ins.text);
  }

  /** Moves the stage's key to `key`; on a cache hit (unless --no-cache) takes the stored layer. */
  private async reuse(key: Digest, text: string): Promise<boolean> {
    this.result.key = key;
    if (this.input.noCache) return false;
    const hit = await this.input.cache.lookup(key);
    if (hit === undefined) return false;
    this.pushLayer(hit, text);
    this.rootfs.applyLater(hit);
    this.input.reporter.cached(hit.descriptor.digest);
    return true;
  }

  /**
   * Writes the step's layer. With `named`, the step's file digests name the layer, and those
   * not known yet (a step never built) are learnt while it is written: the step's cache key,
   * left at its parent's until then, is complete only after.
   */
  private async commitLayer(entries: LayerEntry[], text: string, named?: { inputs: StepInputs; keyOf: (inputs: StepInputs) => Digest }): Promise<void> {
    const { facts } = this.input;
    const learn = named && !named.inputs.complete ? new Map<string, Digest>() : undefined;
    const started = Date.now();
    const progress = this.input.reporter.layer(entries.reduce((sum, e) => sum + (e.size ?? 0), 0));
    const layer = await writeLayer(named ? named.inputs.name(entries) : entries, { mtime: this.input.timestamp, compression: this.input.compression, inspect: facts.scanTar, learn, progress: progress?.add }, this.input.batch);
    progress?.end('done');
    if (named && learn) {
      await named.inputs.learn(learn, started);
      this.result.key = named.keyOf(named.inputs);
    }
    if (layer.inspected) facts.remember(layer, layer.inspected);
    this.rootfs.apply(layer, entries);
    this.input.cache.record(this.result.key, layer);
    this.pushLayer(layer, text);
    this.input.reporter.layerWritten(layer.descriptor.digest, layer.descriptor.size);
  }

  private pushLayer(layer: Layer, text: string): void {
    this.result.layers.push(layer);
    this.result.history.push({ created: this.created, created_by: text, comment: 'sealbuild' });
  }

  private emptyLayer(text: string): void {
    this.result.history.push({ created: this.created, created_by: text, comment: 'sealbuild', empty_layer: true });
  }

  private async ensureWorkspace(): Promise<Workspace> {
    if (this.workspace === undefined) {
      this.workspace = await Workspace.create(this.input.store);
      this.input.track(this.workspace);
    }
    return this.workspace;
  }

  private async tempDir(temps: string[]): Promise<string> {
    const dir = await this.input.store.makeTempDir('build');
    temps.push(dir);
    return dir;
  }

  private expand(word: string, pos: SourcePosition): string {
    return expandWord(word, this.input.scope.lookup, pos);
  }

  private expandPairs(pairs: KeyValue[], pos: SourcePosition): [string, string][] {
    return pairs.map((p) => [this.expand(p.key, pos), this.expand(p.value, pos)]);
  }
}

function splitEnv(kv: string): [string, string] {
  const eq = kv.indexOf('=');
  return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)];
}

/** An image path from a destination as written: a relative one is under WORKDIR, as in docker. */
function imagePath(dest: string, workdir = '/'): string {
  return posix.normalize(dest.startsWith('/') ? dest : `${workdir}/${dest}`).replace(/^\/+/, '').replace(/\/+$/, '');
}

/** A base image's ONBUILD triggers as instructions, each parsed as if it were a Kubefile line. */
function onbuildTriggers(triggers: readonly string[], base: string): Exclude<Instruction, { kind: 'FROM' }>[] {
  return triggers.map((trigger) => parseKubefile(`FROM scratch\n${trigger}\n`, `ONBUILD of ${base}`).stages[0]!.instructions[0]!);
}

function ownership(ins: CopyInstruction | AddInstruction, scope: VariableScope, pos: SourcePosition): Ownership {
  const owner: Ownership = { uid: 0, gid: 0 };
  if (ins.chown !== undefined) {
    const value = expandWord(ins.chown, scope.lookup, pos);
    const match = /^(\d+)(?::(\d+))?$/.exec(value);
    if (!match) throw new KubefileError(pos, `--chown=${value}: only numeric uid[:gid] is supported`, 'user names need an /etc/passwd, which a ClusterImage rootfs does not have; write e.g. --chown=1000:1000');
    owner.uid = Number(match[1]);
    owner.gid = Number(match[2] ?? match[1]);
  }
  if (ins.chmod !== undefined) owner.mode = Number.parseInt(ins.chmod, 8);
  return owner;
}

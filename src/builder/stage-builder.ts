import { rm, stat } from 'node:fs/promises';
import { posix, join } from 'node:path';
import type { Digest } from '../oci/digest.js';
import { formatPlatform } from '../oci/platform.js';
import { declareArgs, expandInstruction, type Expanded } from '../kubefile/expanded.js';
import { writtenWord, type AddInstruction, type AppInstruction, type CopyInstruction, type Instruction, type RunInstruction, type WorkdirInstruction } from '../kubefile/instructions.js';
import { ConfigWriter, runShell } from './container-config.js';
import { decompressFile, sniffArchive } from '../layer/decompress.js';
import type { Layer } from '../layer/image-model.js';
import { extractTar } from '../layer/extract.js';
import { writeLayer } from '../layer/layer-writer.js';
import type { LayerEntry } from '../layer/tar-writer.js';
import { KubefileError, type SourcePosition } from '../util/errors.js';
import { cacheKey } from './cache.js';
import { EntryCollector, imagePath, ownership } from './collect.js';
import { BuildContext } from './context.js';
import { LazyLayerView } from '../runtime/lazy-layer-view.js';
import { runForChanges } from './run-changes.js';
import type { StageBuildInput } from './stage-input.js';
import { onbuildTriggers, startFrom, type StageResult } from './stage-result.js';
import { StepInputs, type Source } from './step-inputs.js';
import { detectApp, type AppSource } from './app-type.js';
import { recordDownload } from './downloads-label.js';
import { downloadUrl, expandedChecksum, isUrl, urlFileName, urlSource, type Download } from './url-source.js';
import { removeTree } from '../util/remove-tree.js';
import { Workspace } from './workspace.js';

export const APPS_ROOT = 'application/apps';
/** docker's PATH for RUN when neither the image nor the Kubefile sets one. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';


/** Executes one stage for one platform: one handler per instruction kind. */
export class StageBuilder {
  private readonly result: StageResult;
  private readonly rootfs: LazyLayerView;
  private readonly created: string;
  private workspace: Workspace | undefined;
  private readonly config: ConfigWriter;

  constructor(private readonly input: StageBuildInput) {
    const base = input.base;
    this.rootfs = new LazyLayerView(input.facts);
    this.created = input.timestamp.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const rootKey = cacheKey({
      platform: formatPlatform(input.platform),
      compression: input.compression,
      mtime: input.timestamp.getTime(),
      base: base === undefined ? 'scratch' : 'key' in base ? base.key : base.descriptor.digest,
    });
    this.result = startFrom(base, rootKey, (d) => input.batch.pathOf(d), input.stage.from.text);
    this.config = new ConfigWriter(this.result.config);
    for (const [k, v] of this.result.env) input.scope.setEnv(k, v);
    for (const layer of this.result.layers) this.rootfs.add(layer);
  }

  async run(): Promise<StageResult> {
    const { stage, platform, reporter, stepOffset, stepTotal } = this.input;
    reporter.step(stepOffset, stepTotal, stage.from.text, formatPlatform(platform));
    for (const instruction of onbuildTriggers(this.input.base, writtenWord(stage.from.image))) {
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

  /** One instruction, its words expanded first (ARG's as it declares them). */
  private async execute(written: Exclude<Instruction, { kind: 'FROM' }>): Promise<void> {
    const scope = this.input.scope;
    if (written.kind === 'ARG') {
      declareArgs(written, scope);
      return this.emptyLayer(written.text);
    }
    const ins = expandInstruction(written, scope.lookup);
    switch (ins.kind) {
      case 'ENV': {
        // All values see the variables as they were before this line, as in docker.
        for (const { key: k, value: v } of ins.pairs) {
          this.result.env.set(k, v);
          this.result.sealer.setEnv(k, v);
          scope.setEnv(k, v);
        }
        return this.emptyLayer(ins.text);
      }
      case 'LABEL':
        for (const { key, value } of ins.pairs) this.result.labels.set(key, value);
        return this.emptyLayer(ins.text);
      case 'MAINTAINER':
        this.result.author = ins.name;
        return this.emptyLayer(ins.text);
      case 'KUBEVERSION':
        this.result.labels.set('app.alpha.sealer.io/supported-kube-version', ins.version);
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
        this.result.sealer.setAppEnv(ins.name, Object.fromEntries(ins.pairs.map((p) => [p.key, p.value])), ins.pos);
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

  private async copy(ins: Expanded<CopyInstruction> | Expanded<AddInstruction>): Promise<void> {
    const { sources, dest } = ins;
    const destPath = imagePath(dest, this.result.config.WorkingDir);
    const owner = ownership(ins.chown, ins.chmod, ins.pos);
    const from = ins.kind === 'COPY' && ins.from !== undefined ? await this.input.copySource(ins.from, ins.pos) : undefined;
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
          const checksum = ins.checksum === undefined ? undefined : expandedChecksum(ins.checksum, writtenWord(ins.written.checksum!), ins.pos);
          this.input.record?.external(`${ins.kind} of a URL`);
          resolved.push(recordDownload(this.result.labels, await urlSource(source, checksum, () => this.downloadPath(temps), ins.pos), dest));
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
          collector.add(src.abs, src.stats, destPath, from === undefined ? src.rel : undefined);
          collector.addParents(destPath, this.rootfs.modeOf);
          continue;
        }
        if (ins.kind === 'ADD' && (await sniffArchive(src.abs)).isTar) {
          await this.extractArchive(src.abs, src.written, destPath, collector, temps, ins.pos);
          continue;
        }
        const target = intoDir ? posix.join(destPath, src.name) : destPath;
        collector.add(src.abs, src.stats, target, src.rel);
        collector.addParents(target, this.rootfs.modeOf);
      }
      await this.commitLayer(collector.result(), ins.text, inputs && { inputs, keyOf });
    } finally {
      await Promise.all(temps.map((t) => rm(t, { recursive: true, force: true })));
    }
  }

  /** A URL's content, downloaded into the step's scratch space. */
  private async download(url: string, checksum: Digest | undefined, temps: string[], pos: SourcePosition): Promise<Download> {
    return downloadUrl(url, await this.downloadPath(temps), checksum, pos);
  }

  private async downloadPath(temps: string[]): Promise<string> {
    return join(await this.tempDir(temps), 'download');
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
    collector.add(dir, await stat(dir), destPath, undefined);
    collector.addParents(destPath, this.rootfs.modeOf);
  }

  /**
   * APP/CNI/CSI: the sources go to application/apps/NAME/ as sealer's `COPY SRC... APPROOT/`
   * puts them (a directory's contents, a file by its name), with the type and files sealer
   * records (app-type.ts).
   */
  private async app(ins: Expanded<AppInstruction>): Promise<void> {
    const appRoot = `${APPS_ROOT}/${ins.name}`;
    const temps: string[] = [];
    const ignored = (rel: string) => this.input.context.isIgnored(rel);
    try {
      const resolved: { source: Source; dest: string }[] = [];
      const detected: AppSource[] = [];
      for (const source of ins.sources) {
        if (isUrl(source)) {
          const name = urlFileName(source, ins.pos);
          this.input.record?.external('APP of a URL');
          resolved.push({ source: recordDownload(this.result.labels, await urlSource(source, undefined, () => this.downloadPath(temps), ins.pos), `${appRoot}/${name}`), dest: `${appRoot}/${name}` });
          detected.push({ kind: 'file', name });
          continue;
        }
        for (const src of await this.input.context.resolve(source.replace(/^local:\/\//, ''), ins.kind, ins.pos)) {
          const dir = src.stats.isDirectory();
          const { name } = src;
          resolved.push({ source: { src }, dest: dir ? appRoot : `${appRoot}/${name}` });
          detected.push(dir ? { kind: 'dir', abs: src.abs, rel: src.rel } : { kind: 'file', name });
        }
      }
      const { type, files } = await detectApp(ins.name, detected, ignored);
      this.result.sealer.addApp(ins.name, type, files, ins.pos);
      if (ins.kind !== 'APP') this.result.labels.set(`cluster.alpha.sealer.io/kube-${ins.kind.toLowerCase()}-${ins.name}`, 'true');
      const step = { kind: ins.kind, name: ins.name, sources: ins.sources, dests: resolved.map((r) => r.dest) };
      const parent = this.result.key;
      const inputs = await this.stepInputs(resolved.map((r) => r.source), step);
      const keyOf = (i: StepInputs) => cacheKey({ parent, step, inputs: i.key() });
      if (inputs.complete && (await this.reuse(keyOf(inputs), ins.text))) return;
      await this.rootfs.ready();
      const collector = new EntryCollector({ uid: 0, gid: 0, ignored, warn: (m) => this.input.reporter.warn(m) });
      for (const { source, dest } of resolved) {
        if ('url' in source) collector.addFile(dest, source.download!.path, source.download!.size, 0o644);
        else collector.add(source.src.abs, source.src.stats, dest, source.src.rel);
      }
      collector.addParents(`${appRoot}/x`, this.rootfs.modeOf);
      await this.commitLayer(collector.result(), ins.text, { inputs, keyOf });
    } finally {
      await Promise.all(temps.map((t) => rm(t, { recursive: true, force: true })));
    }
  }

  /**
   * RUN: whatever the command changes in the stage's rootfs becomes one layer (run-changes.ts).
   * Its environment is the declared ARGs and ENV, nothing of sealbuild's.
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
      const entries = await runForChanges({ argv, env, rootfs: workspace.dir, scratch, storeRoot: this.input.store.root, sandbox: this.input.sandbox, reporter: this.input.reporter, pos: ins.pos });
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
  private async workdir(ins: Expanded<WorkdirInstruction>): Promise<void> {
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
    this.rootfs.add(hit);
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
    this.rootfs.add(layer);
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
}

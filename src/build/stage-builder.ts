import { createReadStream } from 'node:fs';
import { access, rm, stat } from 'node:fs/promises';
import { posix, join } from 'node:path';
import { shortDigest, type Digest } from '../oci/digest.js';
import { Annotation, layerCompression } from '../oci/media-types.js';
import { formatPlatform, type Platform } from '../oci/platform.js';
import type { Descriptor, History } from '../oci/schemas.js';
import { expandWord } from '../kubefile/expand.js';
import type { AddInstruction, AppInstruction, CopyInstruction, Instruction, KeyValue, Stage } from '../kubefile/instructions.js';
import { decompressStream, sniffArchive } from '../layer/decompress.js';
import { extractTar } from '../layer/extract.js';
import { writeLayer, type LayerCompression } from '../layer/layer-writer.js';
import type { BlobBatch, Store } from '../store/store.js';
import type { ResolvedImage } from '../store/image.js';
import { KubefileError, type SourcePosition } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import { EntryCollector, type Ownership } from './collect.js';
import type { BuildContext, ContextSource } from './context.js';
import { RootfsIndex } from './rootfs-index.js';
import { SealerMetadata, SealerExtensionSchema, type AppType } from './sealer-metadata.js';
import { downloadUrl, isUrl, urlFileName } from './url-source.js';
import type { VariableScope } from './variables.js';

export interface StageBuildInput {
  stage: Stage;
  platform: Platform;
  scope: VariableScope;
  base: ResolvedImage | undefined;
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
}

/** What a stage produced: everything the image config and manifest need. */
export interface StageResult {
  layers: Descriptor[];
  diffIds: Digest[];
  history: History[];
  env: Map<string, string>;
  labels: Map<string, string>;
  author: string | undefined;
  sealer: SealerMetadata;
}

const APPS_ROOT = 'application/apps';

/** Executes one stage for one platform: one handler per instruction kind. */
export class StageBuilder {
  private readonly result: StageResult;
  private readonly rootfs = new RootfsIndex();
  private readonly created: string;

  constructor(private readonly input: StageBuildInput) {
    const base = input.base;
    this.created = input.timestamp.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const baseExtension = base?.manifest.annotations?.[Annotation.sealerExtension];
    this.result = {
      layers: [...(base?.manifest.layers ?? [])],
      diffIds: [...(base?.config.rootfs.diff_ids ?? [])],
      history: [...(base?.config.history ?? [])],
      env: new Map((base?.config.config?.Env ?? []).map((kv) => splitEnv(kv))),
      labels: new Map(Object.entries(base?.config.config?.Labels ?? {})),
      author: base?.config.author,
      sealer: new SealerMetadata(baseExtension ? SealerExtensionSchema.parse(JSON.parse(baseExtension)) : undefined),
    };
    for (const [k, v] of this.result.env) input.scope.setEnv(k, v);
  }

  async run(): Promise<StageResult> {
    const { stage, platform, reporter, stepOffset, stepTotal } = this.input;
    if (this.input.base) await this.indexBaseLayers(this.input.base);
    reporter.step(stepOffset, stepTotal, stage.from.text, formatPlatform(platform));
    let step = stepOffset;
    for (const instruction of stage.instructions) {
      step += 1;
      reporter.step(step, stepTotal, instruction.text, formatPlatform(platform));
      await this.execute(instruction);
    }
    this.result.sealer.validate();
    return this.result;
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
        throw new KubefileError(ins.pos, 'RUN is not supported by this version of sealbuild', 'fetch files with ADD <url> --checksum=sha256:… or prepare them in the build context and COPY them');
    }
  }

  private async copy(ins: CopyInstruction | AddInstruction): Promise<void> {
    if (ins.kind === 'COPY' && ins.from !== undefined) {
      throw new KubefileError(ins.pos, 'COPY --from is not supported by this version of sealbuild', 'copy the files into the build context instead');
    }
    const sources = ins.sources.map((s) => this.expand(s, ins.pos));
    const dest = this.expand(ins.dest, ins.pos);
    const destPath = imagePath(dest);
    const owner = ownership(ins, this.input.scope, ins.pos);
    const collector = new EntryCollector({ ...owner, ignored: (rel) => this.input.context.isIgnored(rel), warn: (m) => this.input.reporter.warn(m) });
    const temps: string[] = [];
    try {
      const resolved: ({ url: string } | { src: ContextSource })[] = [];
      for (const source of sources) {
        if (isUrl(source)) {
          if (ins.kind === 'COPY') throw new KubefileError(ins.pos, `COPY cannot download "${source}"`, 'use ADD <url> <dest> --checksum=sha256:…');
          resolved.push({ url: source });
        } else {
          for (const src of await this.input.context.resolve(source, ins.kind, ins.pos)) resolved.push({ src });
        }
      }
      const intoDir = dest.endsWith('/') || this.rootfs.isDirectory(destPath);
      if (resolved.length > 1 && !intoDir) {
        throw new KubefileError(ins.pos, `${ins.kind} with more than one source needs a directory destination ending in "/" (got "${dest}")`, `write ${dest}/`);
      }
      for (const item of resolved) {
        if ('url' in item) {
          const tmp = join(await this.tempDir(temps), 'download');
          const checksum = ins.kind === 'ADD' ? (ins.checksum as Digest | undefined) : undefined;
          const { size } = await downloadUrl(item.url, tmp, checksum, ins.pos);
          const target = intoDir ? posix.join(destPath, urlFileName(item.url, ins.pos)) : destPath;
          collector.addFile(target, tmp, size, 0o600);
          collector.addParents(target, this.rootfs.modeOf);
          continue;
        }
        const { src } = item;
        if (src.stats.isDirectory()) {
          await collector.add(src.abs, src.stats, destPath, src.rel);
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
      await this.commitLayer(collector, ins.text);
    } finally {
      await Promise.all(temps.map((t) => rm(t, { recursive: true, force: true })));
    }
  }

  /** ADD of a local archive: unpacked safely into scratch space, then copied like a directory. */
  private async extractArchive(abs: string, written: string, destPath: string, collector: EntryCollector, temps: string[], pos: SourcePosition): Promise<void> {
    const dir = await this.tempDir(temps);
    const { compression } = await sniffArchive(abs);
    try {
      await extractTar(decompressStream(createReadStream(abs), compression), dir, { whiteouts: false, label: written });
    } catch (err) {
      throw new KubefileError(pos, `ADD ${written}: ${(err as Error).message}`, 'the archive is damaged or unsafe; nothing was stored');
    }
    await collector.add(dir, await stat(dir), destPath, undefined);
    collector.addParents(destPath, this.rootfs.modeOf);
  }

  private async app(ins: AppInstruction): Promise<void> {
    const appRoot = `${APPS_ROOT}/${ins.name}`;
    const collector = new EntryCollector({ uid: 0, gid: 0, ignored: (rel) => this.input.context.isIgnored(rel), warn: (m) => this.input.reporter.warn(m) });
    const files: string[] = [];
    const kinds: AppType[] = [];
    const temps: string[] = [];
    try {
      for (const written of ins.sources.map((s) => this.expand(s, ins.pos))) {
        if (isUrl(written)) {
          const name = urlFileName(written, ins.pos);
          const tmp = join(await this.tempDir(temps), 'download');
          const { size } = await downloadUrl(written, tmp, undefined, ins.pos);
          collector.addFile(`${appRoot}/${name}`, tmp, size, 0o644);
          files.push(name);
          kinds.push(fileAppType(name));
          continue;
        }
        const local = written.replace(/^local:\/\//, '');
        for (const src of await this.input.context.resolve(local, ins.kind, ins.pos)) {
          const name = posix.basename(src.rel || this.input.context.root);
          await collector.add(src.abs, src.stats, `${appRoot}/${name}`, src.rel);
          files.push(name);
          kinds.push(src.stats.isDirectory() ? await dirAppType(src.abs) : fileAppType(name));
        }
      }
      collector.addParents(`${appRoot}/x`, this.rootfs.modeOf);
      this.result.sealer.addApp(ins.name, kinds.every((k) => k === kinds[0]) ? kinds[0]! : '', files, ins.pos);
      if (ins.kind !== 'APP') this.result.labels.set(`cluster.alpha.sealer.io/kube-${ins.kind.toLowerCase()}-${ins.name}`, 'true');
      await this.commitLayer(collector, ins.text);
    } finally {
      await Promise.all(temps.map((t) => rm(t, { recursive: true, force: true })));
    }
  }

  private async commitLayer(collector: EntryCollector, text: string): Promise<void> {
    const entries = collector.result();
    const layer = await writeLayer(entries, { mtime: this.input.timestamp, compression: this.input.compression }, this.input.batch);
    this.rootfs.apply(entries);
    this.result.layers.push(layer.descriptor);
    this.result.diffIds.push(layer.diffId);
    this.result.history.push({ created: this.created, created_by: text, comment: 'sealbuild' });
    this.input.reporter.info(`  layer ${shortDigest(layer.descriptor.digest)} ${layer.descriptor.size} bytes`, { digest: layer.descriptor.digest, size: layer.descriptor.size });
  }

  private emptyLayer(text: string): void {
    this.result.history.push({ created: this.created, created_by: text, comment: 'sealbuild', empty_layer: true });
  }

  private async indexBaseLayers(base: ResolvedImage): Promise<void> {
    for (const layer of base.manifest.layers) {
      await this.rootfs.applyTar(decompressStream(this.input.store.openBlob(layer.digest), layerCompression(layer.mediaType)));
    }
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

/** An image path from a destination as written: absolute or not, always under `/`. */
function imagePath(dest: string): string {
  return posix.normalize(`/${dest}`).replace(/^\/+/, '').replace(/\/+$/, '');
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

function fileAppType(name: string): AppType {
  if (name.endsWith('.sh')) return 'shell';
  if (name.endsWith('.yaml') || name.endsWith('.yml')) return 'kube';
  return '';
}

async function dirAppType(dir: string): Promise<AppType> {
  const has = (p: string) => access(join(dir, p)).then(() => true, () => false);
  return (await has('Chart.yaml')) && (await has('values.yaml')) && (await has('templates')) ? 'helm' : '';
}

import { mkdir, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import type { Layer } from '../layer/image-model.js';
import type { LayerEntry } from '../layer/tar-writer.js';
import type { BlobBatch } from '../store/store.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from '../layer/whiteout.js';
import { memoName, type LayerIdentity } from '../layer/layer-reader.js';


/** What the index needs of a layer: its directories with their modes, other paths, whiteouts. */
interface LayerPaths {
  dirs: [string, number][];
  others: string[];
  whiteouts: string[];
}

/**
 * What directories the image being built has so far, with their modes, without unpacking
 * anything: COPY needs it to know whether a destination is an existing directory and to
 * give parent directories in a new layer the mode they already have.
 * Layers whose entries are not at hand (the base image's, cache hits) are queued and looked
 * at only when a question is asked, so a build whose steps all hit the cache reads nothing.
 * What a layer holds is remembered by blob and diff_id in `memoDir` (memoName; written when the build commits),
 * so its tar is read at most once per store, not decompressed again on every build that
 * changes a step after it.
 */
export class RootfsIndex {
  private readonly dirs = new Map<string, number>();
  private readonly pending: Layer[] = [];

  constructor(
    private readonly memoDir: string,
    private readonly batch: BlobBatch,
  ) {}

  /** Applies the queued layers; call before isDirectory/modeOf. */
  async ready(): Promise<void> {
    while (this.pending.length > 0) {
      const layer = this.pending.shift()!;
      this.applyLayer((await this.readMemo(layer)) ?? (await this.scan(layer)));
    }
  }

  isDirectory(path: string): boolean {
    this.assertReady();
    return path === '' || this.dirs.has(path);
  }

  modeOf = (path: string): number | undefined => {
    this.assertReady();
    return this.dirs.get(path);
  };

  /** Applies a layer this build wrote, and remembers its paths for later builds. */
  apply(layer: LayerIdentity, entries: readonly LayerEntry[]): void {
    this.assertReady();
    const paths: LayerPaths = { dirs: [], others: [], whiteouts: [] };
    for (const e of entries) {
      if (posix.basename(e.path).startsWith(WHITEOUT_PREFIX)) paths.whiteouts.push(e.path);
      else if (e.type === 'directory') paths.dirs.push([e.path, e.mode & 0o7777]);
      else paths.others.push(e.path);
    }
    this.remember(layer, paths);
    this.applyLayer(paths);
  }

  /** Queues a layer that is applied when a question is asked. */
  applyLater(layer: Layer): void {
    this.pending.push(layer);
  }

  private assertReady(): void {
    if (this.pending.length > 0) throw new Error('RootfsIndex used before ready()');
  }

  /** A layer's paths from its tar headers (bodies are skipped, but still decompressed). */
  private async scan(layer: Layer): Promise<LayerPaths> {
    const paths: LayerPaths = { dirs: [], others: [], whiteouts: [] };
    const reader = extract();
    reader.on('entry', (header, body, next) => {
      const path = posix.normalize(header.name).replace(/^(\.\/|\/)+/, '').replace(/\/$/, '');
      if (posix.basename(path).startsWith(WHITEOUT_PREFIX)) paths.whiteouts.push(path);
      else if (header.type === 'directory') paths.dirs.push([path, (header.mode ?? 0o755) & 0o7777]);
      else paths.others.push(path);
      body.on('end', () => next());
      // A damaged layer fails the entry too; the pipeline below reports it once.
      body.on('error', () => {});
      body.resume();
    });
    await pipeline(layer.open(), reader);
    this.remember(layer, paths);
    return paths;
  }

  /** Whiteouts first: they hide what lower layers had, never what the same layer adds. */
  private applyLayer(paths: LayerPaths): void {
    for (const path of paths.whiteouts) {
      const base = posix.basename(path);
      const parent = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      if (base === OPAQUE_MARKER) this.removeBelow(parent);
      else this.removeDir(posix.join(parent, base.slice(WHITEOUT_PREFIX.length)));
    }
    // A file, link or device where a directory was replaces the directory and all below it.
    for (const path of paths.others) this.removeDir(path);
    for (const [path, mode] of paths.dirs) this.dirs.set(path, mode);
  }

  private removeDir(path: string): void {
    if (this.dirs.delete(path)) this.removeBelow(path);
  }

  private removeBelow(dir: string): void {
    const prefix = dir === '' ? '' : `${dir}/`;
    for (const p of [...this.dirs.keys()]) if (p.startsWith(prefix) && p !== dir) this.dirs.delete(p);
  }

  /** Remembered paths, or undefined when there are none (or they are unreadable: then the tar is read again). */
  private async readMemo(layer: LayerIdentity): Promise<LayerPaths | undefined> {
    const text = await readFile(join(this.memoDir, memoName(layer)), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const memo = JSON.parse(text) as LayerPaths;
      return Array.isArray(memo.dirs) && Array.isArray(memo.others) && Array.isArray(memo.whiteouts) ? memo : undefined;
    } catch {
      return undefined;
    }
  }

  private remember(layer: LayerIdentity, paths: LayerPaths): void {
    this.batch.onCommit(async () => {
      await mkdir(this.memoDir, { recursive: true });
      await writeFileAtomic(join(this.memoDir, memoName(layer)), JSON.stringify(paths));
    });
  }
}

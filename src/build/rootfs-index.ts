import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { posix } from 'node:path';
import { extract } from 'tar-stream';
import type { LayerEntry } from '../layer/tar-writer.js';

const WHITEOUT = '.wh.';

interface IndexedEntry {
  path: string;
  isDir: boolean;
  mode: number;
}
const OPAQUE = '.wh..wh..opq';

/**
 * What paths the image being built has so far, and which are directories, without
 * unpacking anything: COPY needs it to know whether a destination is an existing directory
 * and to give parent directories in a new layer the mode they already have.
 * Layers whose entries are not at hand (the base image's, cache hits) are queued and their
 * tar headers read only when a question is asked, so a build whose steps all hit the cache
 * never reads a layer.
 */
export class RootfsIndex {
  private readonly dirs = new Map<string, number>();
  private readonly others = new Set<string>();
  private readonly pending: (() => Readable)[] = [];

  /** Reads the queued layers; call before isDirectory/modeOf. */
  async ready(): Promise<void> {
    while (this.pending.length > 0) await this.applyTar(this.pending.shift()!());
  }

  isDirectory(path: string): boolean {
    this.assertReady();
    return path === '' || this.dirs.has(path);
  }

  modeOf = (path: string): number | undefined => {
    this.assertReady();
    return this.dirs.get(path);
  };

  apply(entries: readonly LayerEntry[]): void {
    this.assertReady();
    this.applyLayer(entries.map((e) => ({ path: e.path, isDir: e.type === 'directory', mode: e.mode })));
  }

  /** Queues a layer, given as a function that opens its uncompressed tar. */
  applyLater(open: () => Readable): void {
    this.pending.push(open);
  }

  private assertReady(): void {
    if (this.pending.length > 0) throw new Error('RootfsIndex used before ready()');
  }

  /** Applies the headers of one uncompressed layer tar, whiteouts included. */
  private async applyTar(tar: Readable): Promise<void> {
    const headers: IndexedEntry[] = [];
    const reader = extract();
    reader.on('entry', (header, body, next) => {
      headers.push({ path: posix.normalize(header.name).replace(/^(\.\/|\/)+/, '').replace(/\/$/, ''), isDir: header.type === 'directory', mode: header.mode ?? 0 });
      body.on('end', () => next());
      body.resume();
    });
    await pipeline(tar, reader);
    this.applyLayer(headers);
  }

  /** Whiteouts first: they hide what lower layers had, never what the same layer adds. */
  private applyLayer(entries: readonly IndexedEntry[]): void {
    const isWhiteout = (e: IndexedEntry): boolean => posix.basename(e.path).startsWith(WHITEOUT);
    for (const { path } of entries.filter(isWhiteout)) {
      const base = posix.basename(path);
      const parent = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      if (base === OPAQUE) this.removeChildren(parent);
      else this.remove(posix.join(parent, base.slice(WHITEOUT.length)));
    }
    for (const e of entries) if (!isWhiteout(e)) this.record(e.path, e.isDir, e.mode);
  }

  private record(path: string, isDir: boolean, mode: number): void {
    if (isDir) {
      this.others.delete(path);
      this.dirs.set(path, mode & 0o7777);
    } else {
      this.remove(path);
      this.others.add(path);
    }
  }

  private remove(path: string): void {
    this.others.delete(path);
    this.dirs.delete(path);
    this.removeChildren(path);
  }

  private removeChildren(dir: string): void {
    const prefix = dir === '' ? '' : `${dir}/`;
    for (const set of [this.others, this.dirs.keys()]) {
      for (const p of [...set]) if (p.startsWith(prefix) && p !== dir) { this.others.delete(p); this.dirs.delete(p); }
    }
  }
}

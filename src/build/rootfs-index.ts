import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { posix } from 'node:path';
import { extract } from 'tar-stream';
import type { LayerEntry } from '../layer/tar-writer.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * What paths the image being built has so far, and which are directories, without
 * unpacking anything: COPY needs it to know whether a destination is an existing directory
 * and to give parent directories in a new layer the mode they already have.
 */
export class RootfsIndex {
  private readonly dirs = new Map<string, number>();
  private readonly others = new Set<string>();

  isDirectory(path: string): boolean {
    return path === '' || this.dirs.has(path);
  }

  modeOf = (path: string): number | undefined => this.dirs.get(path);

  apply(entries: readonly LayerEntry[]): void {
    for (const entry of entries) this.record(entry.path, entry.type === 'directory', entry.mode);
  }

  /** Applies the headers of one uncompressed layer tar, whiteouts included. */
  async applyTar(tar: Readable): Promise<void> {
    const reader = extract();
    reader.on('entry', (header, body, next) => {
      const path = posix.normalize(header.name).replace(/^(\.\/|\/)+/, '').replace(/\/$/, '');
      const base = posix.basename(path);
      const parent = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      if (base === OPAQUE) this.removeChildren(parent);
      else if (base.startsWith(WHITEOUT)) this.remove(posix.join(parent, base.slice(WHITEOUT.length)));
      else this.record(path, header.type === 'directory', header.mode);
      body.on('end', () => next());
      body.resume();
    });
    await pipeline(tar, reader);
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

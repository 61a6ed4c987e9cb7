import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { compareEntryPaths, type LayerEntry } from '../layer/tar-writer.js';
import { KubefileError, type SourcePosition } from '../util/errors.js';

export interface Ownership {
  uid: number;
  gid: number;
  /** --chmod: replaces the permission bits of everything copied. */
  mode?: number;
}

/** An image path from a destination as written: a relative one is under WORKDIR, as in docker. */
export function imagePath(dest: string, workdir = '/'): string {
  return posix.normalize(dest.startsWith('/') ? dest : `${workdir}/${dest}`).replace(/^\/+/, '').replace(/\/+$/, '');
}

/** COPY/ADD's --chown (expanded) and --chmod as the owner and mode of what they copy. */
export function ownership(chown: string | undefined, chmod: string | undefined, pos: SourcePosition): Ownership {
  const owner: Ownership = { uid: 0, gid: 0 };
  if (chown !== undefined) {
    const match = /^(\d+)(?::(\d+))?$/.exec(chown);
    if (!match) throw new KubefileError(pos, `--chown=${chown}: only numeric uid[:gid] is supported`, 'user names need an /etc/passwd, which a ClusterImage rootfs does not have; write e.g. --chown=1000:1000');
    owner.uid = Number(match[1]);
    owner.gid = Number(match[2] ?? match[1]);
  }
  if (chmod !== undefined) owner.mode = Number.parseInt(chmod, 8);
  return owner;
}

export interface CollectOptions extends Ownership {
  /** Skips context paths and their subtrees; for .dockerignore and .sealignore. */
  ignored?: (rel: string) => boolean;
  /** Told about files that cannot go in a layer (sockets, devices). */
  warn: (message: string) => void;
}

/**
 * Turns a host file or directory into layer entries placed at `dest` (image path, no
 * leading slash). A directory contributes its contents (docker's COPY dir/ semantics).
 * Symlinks are kept as symlinks and never followed, so nothing outside is read. Files
 * sharing an inode become one file and hardlinks to it.
 */
export class EntryCollector {
  private readonly entries = new Map<string, LayerEntry>();
  /** Files with more than one link, by device:inode, to emit as one file plus hardlinks. */
  private readonly inodes = new Map<string, string[]>();
  /** The lstat of every file added, by host path: cache keys need it, and it was paid for here. */
  private readonly fileStats = new Map<string, Stats>();

  constructor(private readonly options: CollectOptions) {}

  /**
   * Adds a file or directory at `dest`. `rel` is its path in the build context, for the
   * ignore rules; undefined for scratch content (an unpacked archive), which has none.
   */
  add(abs: string, stats: Stats, destination: string, rel: string | undefined): void {
    const dest = normal(destination);
    if (stats.isDirectory()) {
      // The image root itself is not an entry: its metadata is the runtime's business.
      if (dest !== '') this.put(dest, this.entryFor(stats, dest));
      this.walk(abs, dest, rel);
    } else {
      this.put(dest, this.entryForNonDir(abs, stats, dest));
    }
  }

  /** Directory entries for the parents of `path`, unless already present. */
  addParents(path: string, modeOf: (dir: string) => number | undefined): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.entries.has(dir)) this.entries.set(dir, { path: dir, type: 'directory', mode: modeOf(dir) ?? 0o755, uid: 0, gid: 0 });
    }
  }

  /** Adds a file whose content comes from `source` (a download) with fixed metadata. */
  addFile(destination: string, source: string, size: number, mode: number): void {
    const dest = normal(destination);
    this.put(dest, { path: dest, type: 'file', mode: this.options.mode ?? mode, uid: this.options.uid, gid: this.options.gid, size, source });
  }

  /**
   * The entries, with each multiply-linked file kept once at the path that sorts first (the
   * tar writer's order) and its other names as hardlinks to it, so a reader meets the file
   * before any link to it.
   */
  result(): LayerEntry[] {
    for (const paths of this.inodes.values()) {
      const present = paths.filter((p) => this.entries.get(p)?.type === 'file');
      if (present.length < 2) continue;
      const [first, ...others] = present.sort(compareEntryPaths);
      for (const other of others) {
        const { size: _size, source: _source, ...rest } = this.entries.get(other)!;
        this.entries.set(other, { ...rest, type: 'link', linkname: first! });
      }
    }
    return [...this.entries.values()];
  }

  private walk(dirAbs: string, dest: string, rel: string | undefined): void {
    // Synchronous on purpose, down to each entry: a no-op rebuild is this walk and little
    // else, a COPY has nothing to do in parallel with it, and for thousands of files the
    // promise and thread-pool round trip of each async lstat cost several times the system
    // call itself (an await per file alone was a fifth of the walk's CPU time).
    const names = readdirSync(dirAbs).sort();
    for (const name of names) {
      const childRel = rel === undefined ? undefined : rel === '' ? name : `${rel}/${name}`;
      if (childRel !== undefined && this.options.ignored?.(childRel)) continue;
      // Plain concatenation: names from readdir hold no slash, and path.join's normalising
      // shows in the profile of a walk over thousands of files.
      const abs = dirAbs.endsWith('/') ? `${dirAbs}${name}` : `${dirAbs}/${name}`;
      const stats = lstatSync(abs);
      const childDest = dest === '' ? name : `${dest}/${name}`;
      if (stats.isDirectory()) {
        this.put(childDest, this.entryFor(stats, childDest));
        this.walk(abs, childDest, childRel);
      } else {
        this.put(childDest, this.entryForNonDir(abs, stats, childDest));
      }
    }
  }

  private entryFor(stats: Stats, path: string): LayerEntry {
    return { path, type: 'directory', mode: this.options.mode ?? stats.mode & 0o7777, uid: this.options.uid, gid: this.options.gid };
  }

  private entryForNonDir(abs: string, stats: Stats, path: string): LayerEntry | undefined {
    const { uid, gid } = this.options;
    if (stats.isSymbolicLink()) return { path, type: 'symlink', mode: 0o777, uid, gid, linkname: readlinkSync(abs) };
    if (!stats.isFile()) {
      this.options.warn(`skipping ${abs}: ${describe(stats)} cannot be copied into an image`);
      return undefined;
    }
    if (stats.nlink > 1) {
      const key = `${stats.dev}:${stats.ino}`;
      this.inodes.set(key, [...(this.inodes.get(key) ?? []), path]);
    }
    this.fileStats.set(abs, stats);
    return { path, type: 'file', mode: this.options.mode ?? stats.mode & 0o7777, uid, gid, size: stats.size, source: abs };
  }

  /** The lstat a file had when it was added. */
  statsOf(abs: string): Stats | undefined {
    return this.fileStats.get(abs);
  }

  /** `path` is normal already: add() normalises its destination, and the walk only appends names. */
  private put(path: string, entry: LayerEntry | undefined): void {
    if (entry) this.entries.set(path, entry);
  }
}

function describe(stats: Stats): string {
  if (stats.isSocket()) return 'a socket';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'a special file';
}

/** An image path in normal form ('' stays the root). */
function normal(path: string): string {
  return path === '' ? '' : posix.normalize(path);
}

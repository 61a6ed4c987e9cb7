import type { Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { compareEntryPaths, type LayerEntry } from './tar-writer.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './whiteout.js';

/** What a snapshot keeps of one path: enough to tell any change without reading content. */
interface Seen {
  kind: 'dir' | 'file' | 'symlink' | 'other';
  /**
   * Inode and birth time: ext4 hands a freed inode straight to the next mkdir, so after
   * `rm -rf d && mkdir d` only the birth time tells the new directory from the old one
   * (0 where the filesystem keeps none, leaving the inode alone to decide).
   */
  id: string;
  /** Type and permission bits, owner, size, mtime and ctime: a write or chmod/chown changes one. */
  meta: string;
}

/** Directory path ('' = root) -> its children by name. Held in memory: about 100 bytes a path. */
export type Snapshot = Map<string, Map<string, Seen>>;

/**
 * Records every path under `root` with its inode, type, mode, owner, size, mtime and ctime.
 * No content is read: ctime is set by the kernel on every write, chmod, chown, link or
 * rename and cannot be set back, so a file whose record is unchanged has unchanged content.
 */
export async function takeSnapshot(root: string): Promise<Snapshot> {
  const snapshot: Snapshot = new Map();
  async function walk(dir: string): Promise<void> {
    const children = new Map<string, Seen>();
    snapshot.set(dir, children);
    for (const name of await readdir(join(root, dir))) {
      const path = dir === '' ? name : `${dir}/${name}`;
      const seen = describe(await lstat(join(root, path)));
      children.set(name, seen);
      if (seen.kind === 'dir') await walk(path);
    }
  }
  await walk('');
  return snapshot;
}

function describe(stats: Stats): Seen {
  const kind = stats.isDirectory() ? 'dir' : stats.isFile() ? 'file' : stats.isSymbolicLink() ? 'symlink' : 'other';
  // A directory's mtime and ctime move whenever an entry is added or removed; those changes
  // show as changed children, so only its own mode and owner count.
  const times = kind === 'dir' ? '' : `:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
  return { kind, id: `${stats.ino}:${stats.birthtimeMs}`, meta: `${stats.mode}:${stats.uid}:${stats.gid}${times}` };
}

export interface DiffOptions {
  /**
   * Owner of the entries written: the file's own, except that without root the build user's
   * files are the image's root's (as in a rootless container, where that user is root).
   */
  owner: (stats: Stats) => { uid: number; gid: number };
  /** Told about paths that cannot go in a layer (sockets, FIFOs, devices). */
  warn: (message: string) => void;
}

/**
 * The layer that turns the `before` snapshot of `root` into what `root` holds now: new and
 * changed paths with their contents (streamed from `root` when the tar is written), `.wh.`
 * whiteouts for deleted paths, and an opaque marker where a directory was replaced by a new
 * one, whose whole content is then in the layer. Every parent of an entry is in the layer
 * too, with its current mode, as docker writes them. Files sharing an inode are one file
 * and hardlinks to it.
 */
export async function diffSnapshot(root: string, before: Snapshot, options: DiffOptions): Promise<LayerEntry[]> {
  const entries = new Map<string, LayerEntry>();
  /** Multiply-linked files in the layer, by inode. */
  const inodes = new Map<number, string[]>();
  const entryFor = entryMaker(root, inodes, options);

  function marker(dir: string, name: string): void {
    const path = whiteoutPath(dir, name);
    entries.set(path, whiteoutEntry(path));
  }

  /** Everything under `dir` is new. */
  async function addAll(dir: string): Promise<void> {
    for (const name of await readdir(join(root, dir))) {
      const path = dir === '' ? name : `${dir}/${name}`;
      const stats = await lstat(join(root, path));
      const entry = await entryFor(path, stats);
      if (entry) entries.set(path, entry);
      if (stats.isDirectory()) await addAll(path);
    }
  }

  /** `dir` is the same directory as before: compare its children one by one. */
  async function compare(dir: string): Promise<void> {
    const old = before.get(dir) ?? new Map<string, Seen>();
    const names = await readdir(join(root, dir));
    const present = new Set(names);
    for (const [name] of old) if (!present.has(name)) marker(dir, `${WHITEOUT_PREFIX}${name}`);
    for (const name of names) {
      const path = dir === '' ? name : `${dir}/${name}`;
      const stats = await lstat(join(root, path));
      const now = describe(stats);
      const was = old.get(name);
      if (was !== undefined && was.kind === now.kind && was.id === now.id) {
        if (was.meta !== now.meta) {
          const entry = await entryFor(path, stats);
          if (entry) entries.set(path, entry);
        }
        if (now.kind === 'dir') await compare(path);
        continue;
      }
      const entry = await entryFor(path, stats);
      if (entry) entries.set(path, entry);
      if (now.kind !== 'dir') continue;
      // A directory in place of an older one (rm -rf d && mkdir d): hide all of the old.
      if (was?.kind === 'dir') marker(path, OPAQUE_MARKER);
      await addAll(path);
    }
  }

  await compare('');
  return finish(root, entries, inodes, entryFor);
}

/**
 * The layer for an overlayfs upper directory: everything in it, with overlayfs's whiteouts
 * (character devices 0/0) turned into `.wh.` files and `opaque` directories (whose lower
 * contents are hidden) given the opaque marker.
 */
export async function diffUpper(upper: string, opaque: ReadonlySet<string>, options: DiffOptions): Promise<LayerEntry[]> {
  const entries = new Map<string, LayerEntry>();
  const inodes = new Map<number, string[]>();
  const entryFor = entryMaker(upper, inodes, options);
  async function walk(dir: string): Promise<void> {
    for (const name of await readdir(join(upper, dir))) {
      const path = dir === '' ? name : `${dir}/${name}`;
      const stats = await lstat(join(upper, path));
      if (stats.isCharacterDevice() && stats.rdev === 0) {
        entries.set(whiteoutPath(dir, `${WHITEOUT_PREFIX}${name}`), whiteoutEntry(whiteoutPath(dir, `${WHITEOUT_PREFIX}${name}`)));
        continue;
      }
      const entry = await entryFor(path, stats);
      if (entry) entries.set(path, entry);
      if (!stats.isDirectory()) continue;
      if (opaque.has(path)) entries.set(`${path}/${OPAQUE_MARKER}`, whiteoutEntry(`${path}/${OPAQUE_MARKER}`));
      await walk(path);
    }
  }
  await walk('');
  return finish(upper, entries, inodes, entryFor);
}

/** Every directory under `root` (relative paths), for asking which are opaque. */
export async function listDirectories(root: string): Promise<string[]> {
  const dirs: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const child of await readdir(join(root, dir), { withFileTypes: true })) {
      if (!child.isDirectory()) continue;
      const path = dir === '' ? child.name : `${dir}/${child.name}`;
      dirs.push(path);
      await walk(path);
    }
  }
  await walk('');
  return dirs;
}

function whiteoutPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

function whiteoutEntry(path: string): LayerEntry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0 };
}

type EntryMaker = (path: string, stats: Stats) => Promise<LayerEntry | undefined>;

/** Layer entries for paths under `root`; multiply-linked files are noted in `inodes`. */
function entryMaker(root: string, inodes: Map<number, string[]>, options: DiffOptions): EntryMaker {
  return async (path, stats) => {
    const base = { path, mode: stats.mode & 0o7777, ...options.owner(stats) };
    if (stats.isDirectory()) return { ...base, type: 'directory' };
    if (stats.isSymbolicLink()) return { ...base, type: 'symlink', mode: 0o777, linkname: await readlink(join(root, path)) };
    if (stats.isFile()) {
      if (stats.nlink > 1) inodes.set(stats.ino, [...(inodes.get(stats.ino) ?? []), path]);
      return { ...base, type: 'file', size: stats.size, source: join(root, path) };
    }
    options.warn(`RUN created ${path}, a special file (socket, FIFO or device) that cannot go in a layer; skipped`);
    return undefined;
  };
}

/** Adds missing parent directories and turns extra names of one inode into hardlinks. */
async function finish(root: string, entries: Map<string, LayerEntry>, inodes: Map<number, string[]>, entryFor: EntryMaker): Promise<LayerEntry[]> {
  for (const path of [...entries.keys()]) {
    for (let slash = path.lastIndexOf('/'); slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
      const parent = path.slice(0, slash);
      if (entries.has(parent)) break;
      const entry = await entryFor(parent, await lstat(join(root, parent)));
      if (entry) entries.set(parent, entry);
    }
  }
  // Several names of one inode: the name that sorts first carries the content.
  for (const paths of inodes.values()) {
    const [first, ...others] = paths.sort(compareEntryPaths);
    for (const other of others) {
      const { size: _size, source: _source, ...rest } = entries.get(other)!;
      entries.set(other, { ...rest, type: 'link', linkname: first! });
    }
  }
  return [...entries.values()];
}

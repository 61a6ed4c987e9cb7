import { createWriteStream, type Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, type ExtractEvents, type Header } from 'tar-stream';
import { UserError } from '../util/errors.js';
import { LayerError } from './layer-reader.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './whiteout.js';

export interface ExtractOptions {
  /** Apply OCI/overlay whiteouts (image layers). False for user archives: `.wh.*` are ordinary files. */
  whiteouts: boolean;
  /** Names the archive in error messages, e.g. `layer sha256:…` or `ADD app.tar.gz`. */
  label: string;
}

export interface ExtractSummary {
  /** Every entry read from the archive, including whiteouts and skipped ones. */
  entries: number;
  /** Entries deliberately not created (devices, FIFOs, unknown types). */
  skipped: { name: string; type: string }[];
}

/** One archive member: its header, and a stream of its body. */
type Entry = ExtractEvents['entry'][1];

const MALFORMED_HINT = 'the archive is malformed or malicious';

/** An error that already names the label and the entry; passed through unchanged. */
class EntryError extends UserError {}

/**
 * Extracts an uncompressed tar stream into `destDir` (which must exist), treating the content as
 * untrusted: nothing is written outside `destDir`, and no path is ever resolved through a
 * symlink that the archive (or an earlier layer) placed there. On failure, `destDir` is left
 * partially written; the caller removes it.
 */
export async function extractTar(tar: Readable, destDir: string, options: ExtractOptions): Promise<ExtractSummary> {
  const extraction = new Extraction(destDir, options);
  const parser = tarExtract();
  // A failing input (e.g. a decompressor) is the root cause of whatever the parser reports next.
  let inputError: unknown;
  tar.on('error', (err) => {
    inputError ??= err;
    parser.destroy(err);
  });
  tar.pipe(parser);
  let current: string | undefined;
  let inEntry = false;
  try {
    for await (const entry of parser) {
      current = entry.header.name;
      inEntry = true;
      await extraction.extractEntry(entry);
      inEntry = false;
    }
    await extraction.finish();
  } catch (err) {
    // Stop the producer too: it may be a decompressor process feeding us.
    tar.unpipe(parser);
    tar.destroy();
    throw describeError(inputError ?? err, options.label, current, inEntry);
  }
  return extraction.summary;
}

function describeError(err: unknown, label: string, entry: string | undefined, inEntry: boolean): UserError {
  if (err instanceof EntryError || err instanceof LayerError) return err;
  const where =
    entry === undefined ? 'before the first entry' : `${inEntry ? 'at' : 'after'} entry ${JSON.stringify(entry)}`;
  const message = err instanceof Error ? err.message : String(err);
  // A UserError from the input (e.g. a failing decompressor) keeps its hint.
  if (err instanceof UserError) return new UserError(`${label}: ${message} (${where})`, { hint: err.hint, cause: err });
  return new UserError(`${label}: cannot extract the archive ${where}: ${message}`, { cause: err });
}

/** Relative, normalised form of an entry name ('' is the root), or undefined if it escapes the root. */
function normaliseName(name: string): string | undefined {
  const normalised = path.posix.normalize(name.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (normalised === '..' || normalised.startsWith('../')) return undefined;
  return normalised === '.' ? '' : normalised;
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash === -1 ? '' : rel.slice(0, slash);
}

async function lstatOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Mode bits to apply: setuid/setgid are dropped because the content is untrusted and a
 * ClusterImage has no business shipping privilege-raising binaries; sticky (e.g. /tmp) is kept. */
export function safeMode(header: Pick<Header, 'mode'>): number {
  return (header.mode ?? 0) & 0o1777;
}

class Extraction {
  readonly summary: ExtractSummary = { entries: 0, skipped: [] };
  private readonly isRoot = process.getuid?.() === 0;
  /** Paths verified (or created) as real directories; saves an lstat per path component per entry. */
  private readonly knownDirs = new Set<string>();
  /** Paths this archive wrote, plus their ancestors: what an opaque whiteout must keep. */
  private readonly written = new Set<string>();
  /**
   * Directory modes and mtimes applied in finish(): an archive may give a directory a read-only
   * mode before listing its contents, and creating those contents would change its mtime.
   * Entries without mtime only restore a mode that ensureWritable() lifted.
   */
  private readonly deferred = new Map<string, { mode: number; mtime?: Date }>();

  constructor(
    private readonly destDir: string,
    private readonly options: ExtractOptions,
  ) {}

  async extractEntry(entry: Entry): Promise<void> {
    const { header } = entry;
    this.summary.entries++;
    const isFile = header.type === 'file' || header.type === 'contiguous-file';
    // Only file bodies are read; anything else is drained so the parser can move on.
    if (!isFile) entry.resume();

    const rel = normaliseName(header.name);
    if (rel === undefined) {
      throw new EntryError(`${this.options.label}: entry ${JSON.stringify(header.name)} escapes the target directory`, {
        hint: MALFORMED_HINT,
      });
    }

    const base = rel.slice(rel.lastIndexOf('/') + 1);
    if (this.options.whiteouts && base.startsWith(WHITEOUT_PREFIX)) {
      if (isFile) entry.resume();
      await this.whiteout(rel, base, header);
      return;
    }
    if (rel === '') {
      // The archive's root entry ("./") describes destDir itself, which belongs to the caller.
      if (header.type === 'directory') return;
      throw this.entryError(header, 'cannot replace the target directory');
    }

    const make = this.makerOf(header.type, entry);
    if (make === undefined) {
      // Devices and FIFOs need mknod (privileged) and have no place in a ClusterImage. Unknown
      // typeflags (e.g. GNU sparse files) arrive as type null, which tar-stream's types omit.
      this.summary.skipped.push({ name: header.name, type: header.type ?? 'unknown' });
      return;
    }
    await this.checkParents(rel, header, true);
    await make(rel, header);
    this.markWritten(rel);
  }

  /** Restores deferred directory modes and times; deepest first, so no parent loses x before its children are done. */
  async finish(): Promise<void> {
    const dirs = [...this.deferred].sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [rel, { mode, mtime }] of dirs) {
      const file = this.abs(rel);
      // chmod and utimes follow symlinks: make sure the path is still the directory we recorded.
      if (!(await lstatOrUndefined(file))?.isDirectory()) continue;
      await chmod(file, mode);
      if (mtime !== undefined) await utimes(file, mtime, mtime);
    }
  }

  private abs(rel: string): string {
    return path.join(this.destDir, rel);
  }

  private entryError(header: Header, problem: string): EntryError {
    return new EntryError(`${this.options.label}: entry ${JSON.stringify(header.name)}: ${problem}`, {
      hint: MALFORMED_HINT,
    });
  }

  /**
   * Makes sure every component above `rel` is a real directory, creating missing ones (0755)
   * when `create` is set. Returns false if one is missing and may not be created. `what`
   * names the path in errors.
   */
  private async checkParents(rel: string, header: Header, create: boolean, what = 'parent'): Promise<boolean> {
    const parts = rel.split('/');
    let sub = '';
    for (let i = 0; i < parts.length - 1; i++) {
      sub = sub === '' ? (parts[i] as string) : `${sub}/${parts[i] as string}`;
      if (this.knownDirs.has(sub)) continue;
      const file = this.abs(sub);
      const stats = await lstatOrUndefined(file);
      if (stats === undefined) {
        if (!create) return false;
        await mkdir(file);
        await chmod(file, 0o755); // explicit: mkdir's mode is subject to the umask
      } else if (stats.isSymbolicLink()) {
        throw this.entryError(header, `${what} "${sub}" is a symlink; refusing to go through it`);
      } else if (!stats.isDirectory()) {
        throw this.entryError(header, `${what} "${sub}" is not a directory`);
      } else {
        await this.ensureWritable(sub, stats);
      }
      this.knownDirs.add(sub);
    }
    return true;
  }

  /**
   * Without root, creating or deleting in a directory needs u+wx, which an earlier layer (or a
   * mode from this archive, e.g. a Go module cache) may have removed. Grant it for the
   * duration and restore the mode in finish(). Root bypasses permission bits.
   */
  private async ensureWritable(rel: string, stats: Stats): Promise<void> {
    if (this.isRoot || (stats.mode & 0o300) === 0o300) return;
    if (!this.deferred.has(rel)) this.deferred.set(rel, { mode: stats.mode & 0o7777 });
    await chmod(this.abs(rel), (stats.mode & 0o7777) | 0o300);
  }

  private markWritten(rel: string): void {
    // Ancestors of a written path are always in the set, so the walk can stop at the first one found.
    for (let p = rel; p !== '' && !this.written.has(p); p = parentOf(p)) this.written.add(p);
  }

  /** Removes whatever is at `rel` without following it (overlay replacement or whiteout). */
  private async remove(rel: string, stats: Stats): Promise<void> {
    if (!stats.isDirectory()) {
      await unlink(this.abs(rel));
      return;
    }
    await this.removeTree(this.abs(rel));
    // Cached and deferred facts about the removed subtree no longer hold.
    this.knownDirs.clear();
    const prefix = `${rel}/`;
    for (const key of this.deferred.keys()) {
      if (key === rel || key.startsWith(prefix)) this.deferred.delete(key);
    }
  }

  private async removeTree(file: string): Promise<void> {
    try {
      await rm(file, { recursive: true, force: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (this.isRoot || (code !== 'EACCES' && code !== 'EPERM')) throw err;
      // A read-only directory inside the tree (e.g. a Go module cache): open it up, then retry.
      await grantOwnerAccess(file);
      await rm(file, { recursive: true, force: true });
    }
  }

  /** What makes an entry of `type` on disk; undefined for the types never extracted. */
  private makerOf(type: Header['type'], entry: Entry): ((rel: string, header: Header) => Promise<void>) | undefined {
    switch (type) {
      case 'file':
      case 'contiguous-file':
        return (rel) => this.writeFile(rel, entry);
      case 'directory':
        return (rel, header) => this.makeDirectory(rel, header);
      case 'symlink':
        return (rel, header) => this.makeSymlink(rel, header);
      case 'link':
        return (rel, header) => this.makeHardlink(rel, header);
      default:
        return undefined;
    }
  }

  private async writeFile(rel: string, entry: Entry): Promise<void> {
    const file = this.abs(rel);
    const existing = await lstatOrUndefined(file);
    if (existing !== undefined) await this.remove(rel, existing);
    // O_EXCL: the path was just cleared, so this never opens (and writes through) an existing
    // file, hardlink or symlink.
    const handle = await open(file, 'wx', 0o600);
    try {
      // Owner and mode through the handle, so the path is not resolved again; writing through
      // an open descriptor still works if the mode is read-only.
      if (this.isRoot) await handle.chown(entry.header.uid, entry.header.gid);
      await handle.chmod(safeMode(entry.header));
    } catch (err) {
      await handle.close();
      throw err;
    }
    // The write stream owns the handle from here and closes it, also on error. The entry is a
    // streamx stream: Node's pipeline cannot tell when one was destroyed before it got attached
    // (the input failed meanwhile) and would wait forever, so it is consumed as an iterable.
    await pipeline(Readable.from(entry), createWriteStream(file, { fd: handle }));
    // After the body, since writing it sets the mtime.
    await lutimes(file, entry.header.mtime, entry.header.mtime);
  }

  private async makeDirectory(rel: string, header: Header): Promise<void> {
    const file = this.abs(rel);
    const existing = await lstatOrUndefined(file);
    if (existing?.isDirectory()) {
      // Directory over directory: overlay semantics keep the contents; only the metadata changes.
      await this.ensureWritable(rel, existing);
    } else {
      if (existing !== undefined) await this.remove(rel, existing);
      // Owner-only until finish() applies the real mode, so its contents can be written.
      await mkdir(file, { mode: 0o700 });
    }
    if (this.isRoot) await lchown(file, header.uid, header.gid);
    this.knownDirs.add(rel);
    this.deferred.set(rel, { mode: safeMode(header), mtime: header.mtime });
  }

  private async makeSymlink(rel: string, header: Header): Promise<void> {
    if (!header.linkname) throw this.entryError(header, 'symlink has no target');
    const file = this.abs(rel);
    const existing = await lstatOrUndefined(file);
    if (existing !== undefined) await this.remove(rel, existing);
    // The target is stored as is: it may point anywhere, since nothing here ever follows it.
    await symlink(header.linkname, file);
    if (this.isRoot) await lchown(file, header.uid, header.gid);
    await lutimes(file, header.mtime, header.mtime);
  }

  private async makeHardlink(rel: string, header: Header): Promise<void> {
    // tar-stream gives null for an empty linkname, although its types say string.
    const linkname = header.linkname ?? '';
    const targetRel = normaliseName(linkname);
    if (targetRel === undefined) {
      throw this.entryError(header, `link target ${JSON.stringify(linkname)} escapes the target directory`);
    }
    const exists = targetRel !== '' && (await this.checkParents(targetRel, header, false, 'link target parent'));
    const target = exists ? await lstatOrUndefined(this.abs(targetRel)) : undefined;
    // Only regular files: a hardlink to a symlink would be a second name for a pointer that
    // may lead outside destDir.
    if (!target?.isFile()) {
      throw this.entryError(header, `link target ${JSON.stringify(linkname)} is not a regular file in the archive`);
    }
    if (targetRel === rel) return;
    const file = this.abs(rel);
    const existing = await lstatOrUndefined(file);
    if (existing !== undefined) await this.remove(rel, existing);
    // The new name shares the target's inode, mode and times; those came from the target's entry.
    await link(this.abs(targetRel), file);
  }

  private async whiteout(rel: string, base: string, header: Header): Promise<void> {
    // Whiteouts only delete, so a missing parent means there is nothing to hide.
    if (!(await this.checkParents(rel, header, false))) return;
    const dir = parentOf(rel);
    if (base === OPAQUE_MARKER) {
      await this.hideLowerContents(dir);
      return;
    }
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw this.entryError(header, 'invalid whiteout name');
    const hiddenRel = dir === '' ? hidden : `${dir}/${hidden}`;
    const existing = await lstatOrUndefined(this.abs(hiddenRel));
    if (existing !== undefined) await this.remove(hiddenRel, existing);
  }

  /**
   * Opaque directory: everything in `dir` that came from lower layers disappears, while what
   * this archive already wrote there stays (entries after the marker simply arrive later).
   * Directories this archive wrote over lower ones are cleaned recursively, since the lower
   * layers' contents are hidden there too.
   */
  private async hideLowerContents(dir: string): Promise<void> {
    for (const name of await readdir(this.abs(dir))) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const stats = await lstat(this.abs(rel));
      if (!this.written.has(rel)) {
        await this.remove(rel, stats);
      } else if (stats.isDirectory()) {
        await this.ensureWritable(rel, stats);
        await this.hideLowerContents(rel);
      }
    }
  }
}

/** Gives the owner rwx on every directory of a tree, without following symlinks. */
async function grantOwnerAccess(file: string): Promise<void> {
  const stats = await lstat(file);
  if (!stats.isDirectory()) return;
  await chmod(file, (stats.mode & 0o7777) | 0o700);
  for (const name of await readdir(file)) await grantOwnerAccess(path.join(file, name));
}

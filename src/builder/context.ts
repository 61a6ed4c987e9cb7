import { lstat, readFile, readlink, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, posix, sep } from 'node:path';
import dockerignore from '@balena/dockerignore';
import { KubefileError, UserError, type SourcePosition } from '../util/errors.js';

/** A source the build context resolved: where it is on the host and what it is. */
export interface ContextSource {
  /** The path as the user wrote it after expansion, for messages. */
  written: string;
  /** Path relative to the context root, POSIX (symlinks resolved). */
  rel: string;
  /** The source's own name, as written or matched: a symlink's, not its target's (what COPY names the copy). */
  name: string;
  /** Real absolute path on the host (symlinks at the top resolved, inside the context). */
  abs: string;
  stats: Stats;
}

// @balena/dockerignore is CommonJS (module.exports = the factory) with types that declare a
// default export: Node's and esbuild's CommonJS interop both give module.exports as the default.
const ignoreFactory = dockerignore as unknown as typeof import('@balena/dockerignore').default;

const IGNORE_FILES = ['.dockerignore', '.sealignore'];
const GLOB_CHARS = /[*?[]/;

/**
 * The build context directory. Every read a build makes from it goes through here, so no
 * source can reach outside it: not by `..`, not by an absolute path, not by a symlink.
 * `.dockerignore` and `.sealignore` (docker's pattern rules) exclude paths from COPY/ADD.
 */
export class BuildContext {
  private constructor(
    readonly root: string,
    private readonly ignorer: { ignores(path: string): boolean },
    private readonly hasIgnoreRules: boolean,
    /** Where warnings about sources go (a source read other than as written). */
    private readonly warn: (message: string) => void,
    /** Set for a stage's or an image's filesystem (COPY --from): names it in messages. */
    private readonly rootfsLabel?: string,
  ) {}

  /**
   * A stage's or image's unpacked filesystem as a COPY --from source: paths are read as
   * inside it (`/usr/bin/x` is its usr/bin/x), and symlinks resolve against its root, as
   * they would in a container, never against the host's. No ignore files apply.
   */
  static rootfs(dir: string, label: string): BuildContext {
    return new BuildContext(dir, { ignores: () => false }, false, () => {}, label);
  }

  static async open(dir: string, warn: (message: string) => void): Promise<BuildContext> {
    let root: string;
    try {
      root = await realpath(dir);
      if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
    } catch {
      throw new UserError(`build context "${dir}" is not a directory`, { hint: 'pass the directory that holds your Kubefile and the files it copies', exitCode: 2 });
    }
    const patterns: string[] = [];
    for (const name of IGNORE_FILES) {
      const text = await readFile(join(root, name), 'utf8').catch(() => '');
      patterns.push(...text.split(/\r?\n/).filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#')));
    }
    return new BuildContext(root, ignoreFactory().add(patterns), patterns.length > 0, warn);
  }

  isIgnored(rel: string): boolean {
    return this.hasIgnoreRules && rel !== '' && rel !== '.' && this.ignorer.ignores(rel);
  }

  /**
   * Resolves one source as written in COPY/ADD/APP (globs expand to several). `strict`
   * (sealbuild's own file references, such as image files in an imageList) refuses "/" and
   * ".." above the context instead of dropping them as BuildKit does for COPY.
   */
  async resolve(written: string, what: string, pos: SourcePosition, strict = false): Promise<ContextSource[]> {
    if (this.rootfsLabel !== undefined) return this.resolveInRootfs(written, what, pos);
    // As BuildKit (and buildah) do: the path is joined to the context root, so a leading "/"
    // or ".." above the root is dropped and the source never leaves the context.
    const rel = posix.normalize(`/${written}`).replace(/^\/+/, '').replace(/\/+$/, '');
    const asWritten = posix.normalize(written).replace(/\/+$/, '');
    if (strict && written.startsWith('/')) {
      throw new KubefileError(pos, `${what} source "${written}" is an absolute path`, 'sources are paths relative to the build context; copy the file into the context');
    }
    if (strict && (asWritten === '..' || asWritten.startsWith('../'))) {
      throw new KubefileError(pos, `${what} source "${written}" is outside the build context`, 'sources must stay inside the context directory');
    }
    if (written.startsWith('/') || asWritten === '..' || asWritten.startsWith('../')) {
      this.warn(`${pos.file}:${pos.line}:${pos.col}: ${what} source "${written}" is read as "${rel || '.'}" in the build context (sources never leave it: a leading "/" and ".." above the context are dropped, as in BuildKit)`);
    }
    if (GLOB_CHARS.test(rel)) {
      const kept = (await globIn(this.root, rel, true)).filter((m) => !this.isIgnored(m)).sort();
      if (kept.length === 0) throw new KubefileError(pos, `${what} source pattern "${written}" matches no files in the build context`, 'check the pattern and your .dockerignore/.sealignore');
      return Promise.all(kept.map((m) => this.check(written, m, what, pos)));
    }
    return [await this.check(written, rel, what, pos)];
  }

  private async resolveInRootfs(written: string, what: string, pos: SourcePosition): Promise<ContextSource[]> {
    // As in a chroot: `..` stops at the root.
    const rel = posix.normalize(`/${written}`).replace(/^\/+/, '').replace(/\/+$/, '');
    const matches = GLOB_CHARS.test(rel) ? (await globIn(this.root, rel)).sort() : [rel];
    if (matches.length === 0) throw new KubefileError(pos, `${what} source pattern "${written}" matches nothing in ${this.rootfsLabel}`, 'check the pattern');
    return Promise.all(matches.map(async (match) => {
      const resolved = await resolveInRoot(this.root, match);
      const abs = resolved === '' ? this.root : join(this.root, resolved);
      const stats = await stat(abs).catch(() => {
        throw new KubefileError(pos, `${what} source "${written}" not found in ${this.rootfsLabel}`, 'paths are inside that filesystem; check the stage that makes it');
      });
      return { written, rel: resolved, name: sourceName(match, this.root), abs, stats };
    }));
  }

  private async check(written: string, rel: string, what: string, pos: SourcePosition): Promise<ContextSource> {
    if (this.isIgnored(rel)) {
      throw new KubefileError(pos, `${what} source "${written}" is excluded by .dockerignore/.sealignore`, 'remove the matching pattern or copy something else');
    }
    let abs: string;
    try {
      abs = await realpath(join(this.root, rel));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const dangling = code === 'ENOENT' && (await lstat(join(this.root, rel)).then(() => true, () => false));
      throw new KubefileError(pos, dangling ? `${what} source "${written}" is a symlink to nothing` : `${what} source "${written}" not found in the build context ${this.root}`, 'paths are relative to the context directory');
    }
    if (abs !== this.root && !abs.startsWith(this.root + sep)) {
      throw new KubefileError(pos, `${what} source "${written}" resolves outside the build context (to ${abs})`, 'symlinks may only point to files inside the context');
    }
    const resolved = posix.normalize(abs.slice(this.root.length + 1) || '.').replace(/^\.$/, '');
    // A symlink must not read what the ignore files keep out (docker never sends it to the builder).
    if (resolved !== rel && this.isIgnored(resolved)) {
      throw new KubefileError(pos, `${what} source "${written}" is a symlink to "${resolved}", which .dockerignore/.sealignore exclude`, 'remove the matching pattern or copy something else');
    }
    return { written, rel: resolved, name: sourceName(rel, this.root), abs, stats: await stat(abs) };
  }
}

/** The last component of `rel` (the root's own name for the root). */
function sourceName(rel: string, root: string): string {
  return posix.basename(rel || root);
}

/**
 * The paths under `root` that `pattern` matches, as docker's COPY patterns do (no braces,
 * extglobs or `**`), without a trailing "/". tinyglobby (with picomatch and fdir, 56 kB of the
 * bundle) is loaded only when a source is a pattern: most builds never parse it. `links`: list
 * symlinks too (tinyglobby leaves them out unless it follows them); the context's matches are
 * each resolved and kept inside it afterwards (check). A stage's rootfs is not followed: its
 * absolute links would lead fdir onto the host.
 */
async function globIn(root: string, pattern: string, links = false): Promise<string[]> {
  const { glob } = await import('tinyglobby');
  const matches = await glob(pattern, {
    cwd: root, dot: true, onlyFiles: false, followSymbolicLinks: links, expandDirectories: false,
    braceExpansion: false, extglob: false, globstar: false,
  });
  return matches.map((m) => m.replace(/\/$/, ''));
}

/**
 * `rel` with every symlink resolved inside `root`, as the kernel would inside a chroot at
 * `root`: absolute targets start again at `root`, and `..` never climbs above it. The result
 * is a path under `root` (relative, '' for the root itself); its last component may be missing.
 */
async function resolveInRoot(root: string, rel: string): Promise<string> {
  const todo = rel.split('/').filter((p) => p !== '');
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      done.pop();
      continue;
    }
    const path = join(root, ...done, name);
    const stats = await lstat(path).catch(() => undefined);
    if (!stats?.isSymbolicLink()) {
      done.push(name);
      continue;
    }
    // 40 as in Linux (MAXSYMLINKS): a loop fails as ELOOP would.
    if (++links > 40) throw new UserError(`too many levels of symbolic links at ${path}`, { hint: 'the filesystem has a symlink loop' });
    const target = await readlink(path);
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/').filter((p) => p !== ''));
  }
  return done.join('/');
}

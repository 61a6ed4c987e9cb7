import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { UserError } from '../util/errors.js';

/**
 * How a RUN step's changes are found. With overlayfs, the command works on a mount whose
 * lower layer is the stage's rootfs and whose upper directory collects exactly what it
 * changed (deletions as whiteout devices, replaced directories marked opaque), so only the
 * changes are read afterwards. Otherwise the rootfs is walked before and after (stat only)
 * and compared (layer/diff.ts). overlayfs needs root, to mount it in a private mount
 * namespace that vanishes with the command (nothing stays mounted if sealbuild is killed),
 * and a store on a filesystem overlayfs accepts as upper layer: a trial mount decides.
 * SEALBUILD_RUN_DIFF=overlay|snapshot forces one method.
 */
export interface OverlayTools {
  unshare: string;
  mount: string;
  /** GNU tar: the one stock tool that reads the trusted.overlay.opaque xattr (Node cannot). */
  tar: string;
}

export interface OverlayDirs {
  /** The stage's rootfs, read-only to the command. */
  lower: string;
  /** Receives the changes. */
  upper: string;
  /** overlayfs's scratch space, on the upper directory's filesystem. */
  work: string;
}

let decided: Promise<OverlayTools | undefined> | undefined;

/** The tools for the overlay method, or undefined when the snapshot diff is to be used. */
export function overlayTools(scratch: string): Promise<OverlayTools | undefined> {
  decided ??= decide(scratch);
  return decided;
}

async function decide(scratch: string): Promise<OverlayTools | undefined> {
  const forced = process.env.SEALBUILD_RUN_DIFF ?? '';
  if (!['', 'overlay', 'snapshot'].includes(forced)) {
    throw new UserError(`SEALBUILD_RUN_DIFF="${forced}" is not overlay or snapshot`, { hint: 'unset it to let sealbuild choose' });
  }
  if (forced === 'snapshot') return undefined;
  const found = await findTools();
  const reason = typeof found === 'string' ? found : await trialMount(found, scratch);
  if (reason === undefined) return found as OverlayTools;
  if (forced === 'overlay') throw new UserError(`SEALBUILD_RUN_DIFF=overlay, but overlayfs cannot be used here: ${reason}`, { hint: 'unset SEALBUILD_RUN_DIFF to use the snapshot diff' });
  return undefined;
}

async function findTools(): Promise<OverlayTools | string> {
  if (process.getuid?.() !== 0) return 'mounting overlayfs needs root';
  const [unshare, mount, tar] = await Promise.all(['unshare', 'mount', 'tar'].map(findExecutable));
  if (unshare === undefined || mount === undefined || tar === undefined) return 'unshare, mount or tar is not installed';
  return { unshare, mount, tar };
}

/** Why a trial mount in `scratch` failed, or undefined when it worked. */
async function trialMount(tools: OverlayTools, scratch: string): Promise<string | undefined> {
  const dir = join(scratch, 'overlay-probe');
  const dirs = { lower: join(dir, 'lower'), upper: join(dir, 'upper'), work: join(dir, 'work') };
  const merged = join(dir, 'merged');
  try {
    for (const d of [...Object.values(dirs), merged]) await mkdir(d, { recursive: true });
    const [file, ...args] = overlayCommand(tools, dirs, merged, ['/bin/true']);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(file!, args, { stdio: 'ignore' });
      child.on('error', () => resolve(-1));
      child.on('close', resolve);
    });
    return code === 0 ? undefined : 'a trial mount failed (is the store on a filesystem overlayfs cannot use as upper layer?)';
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `argv` run with `merged` as its working directory, an overlayfs of `dirs` mounted there in a
 * private mount namespace of its own. redirect_dir and metacopy are off so that the upper
 * directory holds whole files and plain directories, as a layer needs; a path with a comma,
 * colon or backslash cannot be written in the mount options and fails the trial mount.
 */
export function overlayCommand(tools: OverlayTools, dirs: OverlayDirs, merged: string, argv: string[]): string[] {
  const options = `lowerdir=${dirs.lower},upperdir=${dirs.upper},workdir=${dirs.work},redirect_dir=off,metacopy=off,index=off,xino=off`;
  const script = `${tools.mount} -t overlay overlay -o "$1" "$2" && cd "$2" && shift 2 && exec "$@"`;
  return [tools.unshare, '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script, 'sh', options, merged, ...argv];
}

/** The directories of an upper directory that overlayfs marked opaque (relative paths). */
export async function opaqueDirectories(tools: OverlayTools, upper: string, dirs: string[]): Promise<Set<string>> {
  const child = spawn(tools.tar, ['--xattrs', '--xattrs-include=trusted.overlay.opaque', '--no-recursion', '--null', '-T', '-', '-cf', '-'], { cwd: upper, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const opaque = new Set<string>();
  const reader = extract();
  reader.on('entry', (header, body, next) => {
    if ((header.pax as Record<string, string> | undefined)?.['SCHILY.xattr.trusted.overlay.opaque'] === 'y') opaque.add(header.name.replace(/\/$/, ''));
    body.on('end', () => next());
    body.resume();
  });
  // Only directories are listed: the tar holds headers, never file contents.
  await Promise.all([pipeline(Readable.from(dirs.map((d) => `${d}\0`)), child.stdin), pipeline(child.stdout, reader)]);
  if ((await exited) !== 0) throw new Error(`tar could not read overlayfs attributes in ${upper}: ${stderr.trim()}`);
  return opaque;
}

/** An executable from sealbuild's own PATH (a RUN command's PATH, from ENV, may differ). */
export async function findExecutable(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  return undefined;
}

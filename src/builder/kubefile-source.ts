import { readFile, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type { Kubefile } from '../kubefile/instructions.js';
import { UserError } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';

/**
 * The names looked for in the context when -f is not given, in this order: sealer's and our
 * Kubefile first, then the names sealos looks for (lifecycle/pkg/buildah/build.go). sealos
 * itself tries Sealfile first and uses every one it finds; one file is used here.
 */
export const DEFAULT_FILE_NAMES = ['Kubefile', 'Sealfile', 'Dockerfile', 'Containerfile'];

/**
 * Reads and parses the build file: `-f FILE`, else the first default name in the context,
 * saying which when it is not the usual lone Kubefile.
 */
export async function readKubefile(contextDir: string, file: string | undefined, reporter: Reporter, read?: ReadKubefile): Promise<Kubefile> {
  const { path, others, bytes } = read ?? (await findKubefile(contextDir, file));
  if (file === undefined && (basename(path) !== 'Kubefile' || others.length > 0)) {
    reporter.info(`using ${path}${others.length > 0 ? ` (also found ${others.join(', ')}, not used; pass -f to choose)` : ''}`, { kubefile: path });
  }
  const text = bytes?.toString('utf8') ?? (await readFile(path, 'utf8').catch(() => {
    throw new UserError(`Kubefile not found: ${path}`, { hint: 'check the -f path', exitCode: 2 });
  }));
  // Loaded here, not with this module: a build record looks for the Kubefile without parsing it.
  const { parseKubefile } = await import('../kubefile/parse.js');
  return parseKubefile(text, relative(process.cwd(), path) || path);
}

/** The build file found, and its bytes when they were read already (a build record's key covers them: the build parses those). */
export interface ReadKubefile {
  path: string;
  /** The other default names found in the context, not used. */
  others: string[];
  bytes?: Buffer;
}

/** The build file's path (`-f FILE`, else the first default name in the context) and the other default names found there. */
export async function findKubefile(contextDir: string, file: string | undefined): Promise<ReadKubefile> {
  if (file !== undefined) return { path: file, others: [] };
  const found: string[] = [];
  for (const name of DEFAULT_FILE_NAMES) {
    if ((await stat(join(contextDir, name)).catch(() => undefined))?.isFile()) found.push(name);
  }
  const [used, ...others] = found;
  if (used === undefined) {
    throw new UserError(`no Kubefile in ${contextDir}: looked for ${DEFAULT_FILE_NAMES.join(', ')}`, { hint: 'put a Kubefile in the context directory or pass -f FILE', exitCode: 2 });
  }
  return { path: join(contextDir, used), others };
}

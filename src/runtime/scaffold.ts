import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expandWord } from '../kubefile/expand.js';
import { parseKubefile } from '../kubefile/parse.js';
import { normalizeReference } from '../oci/reference.js';
import { UserError } from '../util/errors.js';
import type { ClusterRuntime } from './runtimes.js';

import { PACKAGE_ROOT } from '../package-root.js';

/** basefs/ and templates/ ship beside dist/ (package.json "files"). */
export const BASEFS_DIR = join(PACKAGE_ROOT, 'basefs');
const TEMPLATES_DIR = join(PACKAGE_ROOT, 'templates');

/**
 * The name the base image of `runtime` gets when built from basefs/: sealbuild/<runtime> tagged
 * with the VERSION its Kubefile pins ('+' is not allowed in a tag, so it becomes '-'). Read
 * from the Kubefile so the version stays pinned in one place.
 */
export async function defaultBase(runtime: ClusterRuntime): Promise<string> {
  const file = join(BASEFS_DIR, runtime, 'Kubefile');
  const kubefile = parseKubefile(await readFile(file, 'utf8'), file);
  const stage = kubefile.stages[kubefile.stages.length - 1]!;
  for (const ins of [...kubefile.globalArgs, ...stage.instructions]) {
    if (ins.kind !== 'ARG') continue;
    const version = ins.args.find((a) => a.name === 'VERSION' && a.defaultValue !== undefined);
    if (version) return normalizeReference(`sealbuild/${runtime}:${expandWord(version.defaultValue!, () => undefined, ins.pos).replace(/\+/g, '-')}`);
  }
  throw new UserError(`${file} pins no VERSION`, { hint: 'declare ARG VERSION=<version> in it' });
}

/**
 * Writes a build context for a ClusterImage on top of `base` from templates/<runtime>/ into
 * `dir`, which must be new or empty so nothing of the user's is overwritten.
 */
export async function scaffold(runtime: ClusterRuntime, dir: string, base: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) throw new UserError(`${dir} is not empty`, { hint: 'give a new or empty directory', exitCode: 2 });
  const template = join(TEMPLATES_DIR, runtime);
  await cp(template, dir, { recursive: true });
  const kubefile = join(dir, 'Kubefile');
  await writeFile(kubefile, (await readFile(kubefile, 'utf8')).replaceAll('{{ .Base }}', base));
  return (await readdir(dir, { recursive: true })).sort();
}

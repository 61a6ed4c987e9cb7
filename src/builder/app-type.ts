import { access, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';

/** sealer's application types (pkg/define/application/types.go); '' when none is detected. */
export type AppType = 'helm' | 'shell' | 'kube' | '';

/** One APP source: a file (by its name in the app) or a directory whose contents go into the app. */
export type AppSource = { kind: 'file'; name: string } | { kind: 'dir'; abs: string; rel: string };

/**
 * The app's type and the `files` sealer records, decided as sealer's Kubefile parser does
 * (build/kubefile/parser/utils.go: isHelm, getApplicationType, getApplicationFiles):
 * - helm: a source directory holding Chart.yaml, values.yaml and templates at its top, or
 *   those three among the sources' top-level names; `files` is the app name;
 * - otherwise every file (directories walked) must end in .sh (shell) or .yaml/.yml (kube),
 *   not both, else there is no type and no files;
 * - kube: every file, directory contents relative to their directory; shell: the first
 *   source's files only (sealer runs `bash` on each recorded file).
 */
export async function detectApp(appName: string, sources: readonly AppSource[], ignored: (rel: string) => boolean): Promise<{ type: AppType; files: string[] }> {
  const perSource: string[][] = [];
  const topNames = new Set<string>();
  for (const source of sources) {
    if (source.kind === 'file') {
      perSource.push([source.name]);
      topNames.add(source.name);
      continue;
    }
    if (await isChart(source.abs)) return { type: 'helm', files: [appName] };
    const entries = await readdir(source.abs, { withFileTypes: true });
    for (const entry of entries) if (!entry.isDirectory()) topNames.add(entry.name);
    perSource.push(await filesUnder(source.abs, source.rel, ignored));
  }
  if (['Chart.yaml', 'values.yaml', 'templates'].every((n) => topNames.has(n))) return { type: 'helm', files: [appName] };
  const kinds = new Set(perSource.flat().map(fileType));
  if (kinds.size !== 1 || kinds.has('')) return { type: '', files: [] };
  const type = [...kinds][0]!;
  return { type, files: type === 'shell' ? perSource[0]! : perSource.flat() };
}

/** sealer matches the extension strictly, ignoring case. */
function fileType(name: string): AppType {
  const ext = posix.extname(name).toLowerCase();
  if (ext === '.sh') return 'shell';
  if (ext === '.yaml' || ext === '.yml') return 'kube';
  return '';
}

async function isChart(dir: string): Promise<boolean> {
  const has = (p: string) => access(join(dir, p)).then(() => true, () => false);
  return (await has('Chart.yaml')) && (await has('values.yaml')) && (await has('templates'));
}

/** Files below `abs` (not directories), relative to it, sorted; those the ignore files exclude are left out. */
async function filesUnder(abs: string, rel: string, ignored: (rel: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(abs, { withFileTypes: true, recursive: true })) {
    if (entry.isDirectory()) continue;
    const path = posix.join(posix.relative(abs, entry.parentPath).split('\\').join('/'), entry.name);
    if (!ignored(posix.join(rel, path))) out.push(path);
  }
  return out.sort();
}

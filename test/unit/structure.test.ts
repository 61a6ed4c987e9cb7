import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { REPO } from '../helpers/cli.js';

// The shape of src/ (issue #15): imports run one way, between folders and between files, and
// no source file grows into a grab-bag. Read from the TypeScript sources, not from dist/.

const SRC = join(REPO, 'src');
const MAX_LINES = 400;

// What issue #15 has not removed yet. Each list must equal what is found: a new cycle or long
// file fails, and so does a removed one still listed (shrink the list as the work lands).
const LEFT = {
  folderCycles: [] as string[][],
  fileCycles: [] as string[][],
  registryFilesImportingStore: [] as string[],
  longFiles: [] as string[],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** file (relative to src/) → the src/ files it imports: static, type-only, re-exports and import(). */
function importGraph(root: string): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(root)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = new Set<string>();
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue;
      targets.add(relative(root, resolve(dirname(file), fileName.replace(/\.js$/, '.ts'))));
    }
    graph.set(relative(root, file), targets);
  }
  return graph;
}

/** Every cycle's members, one list per strongly connected component of more than one node (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node)?.has(node)) found.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

function folderGraph(files: Map<string, Set<string>>): Map<string, Set<string>> {
  const folders = new Map<string, Set<string>>();
  for (const [file, targets] of files) {
    const from = dirname(file);
    const edges = folders.get(from) ?? new Set<string>();
    for (const target of targets) if (dirname(target) !== from) edges.add(dirname(target));
    folders.set(from, edges);
  }
  return folders;
}

const graph = importGraph(SRC);

test('the import graph is read: relative, type-only and dynamic imports count', () => {
  assert.ok(graph.get('cli/main.ts')?.size, 'cli/main.ts imports something');
  // cli/common.ts loads the registry lazily with import(); that edge must be seen.
  assert.ok(graph.get('cli/common.ts')?.has('registry/registries.ts'));
});

test('the cycle finder finds cycles (so an empty answer means something)', () => {
  const g = new Map([
    ['a', new Set(['b'])],
    ['b', new Set(['c'])],
    ['c', new Set(['a'])],
    ['d', new Set(['a'])],
  ]);
  assert.deepEqual(cycles(g), [['a', 'b', 'c']]);
  assert.deepEqual(cycles(new Map([['a', new Set(['b'])], ['b', new Set<string>()]])), []);
});

test('no cycle between folders of src/', () => {
  assert.deepEqual(cycles(folderGraph(graph)), LEFT.folderCycles);
});

test('no cycle between files of src/', () => {
  assert.deepEqual(cycles(graph), LEFT.fileCycles);
});

test('the registry module imports nothing from the store', () => {
  const offending = [...graph].filter(([file, targets]) => file.startsWith('registry/') && [...targets].some((t) => t.startsWith('store/')));
  assert.deepEqual(offending.map(([file]) => file), LEFT.registryFilesImportingStore);
});

test(`no source file is over ${MAX_LINES} lines`, () => {
  const long = sourceFiles(SRC)
    .map((file) => ({ file: relative(SRC, file), lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
    .filter(({ lines }) => lines > MAX_LINES);
  assert.deepEqual(long.map(({ file }) => file), LEFT.longFiles);
});

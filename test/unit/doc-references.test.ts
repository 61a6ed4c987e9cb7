import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/cli.js';

// Comments and docs cite documents a reader of the repository can open (#21 point 13): the
// design notes the project started from are not part of it, so a citation names docs/FILE.md.

const SKIP = new Set(['node_modules', 'dist', '.git']);
const DESIGN_NOTES = ['architecture', 'runtime', 'interop', 'formats', 'quality'];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name) || entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return files(path);
    return /\.(ts|sh|md|yaml|yml|json)$|^Kubefile$/.test(entry.name) ? [path] : [];
  });
}

/** `formats.md` cited bare (not `docs/formats.md`, not a link inside docs/), or the design folder named. */
function outsideCitations(path: string, text: string): string[] {
  const inDocs = relative(REPO, path).startsWith('docs/');
  const found: string[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (/shared\/design/.test(line)) found.push(`${relative(REPO, path)}:${i + 1}: ${line.trim()}`);
    for (const match of line.matchAll(new RegExp(`(\\S*?)\\b(${DESIGN_NOTES.join('|')})\\.md`, 'g'))) {
      const prefix = match[1]!;
      const cited = /(^|[(/`\[])docs\/$/.test(prefix) || (inDocs && /(^|[(`\[])$/.test(prefix));
      if (!cited) found.push(`${relative(REPO, path)}:${i + 1}: ${line.trim()}`);
    }
  }
  return found;
}

test('the citation check finds a bare design note and accepts docs/', () => {
  assert.equal(outsideCitations(join(REPO, 'src', 'x.ts'), '// see formats.md §3\n// see docs/formats.md §3\n').length, 1);
  assert.equal(outsideCitations(join(REPO, 'docs', 'x.md'), 'see [formats](formats.md)\n').length, 0);
  assert.notEqual(outsideCitations(join(REPO, 'README.md'), 'see /work/shared/design/interop.md\n').length, 0);
});

test('no source, script or document cites a design note outside the repository', () => {
  const found = files(REPO).filter((p) => !p.endsWith('doc-references.test.ts')).flatMap((p) => outsideCitations(p, readFileSync(p, 'utf8')));
  assert.deepEqual(found, []);
});

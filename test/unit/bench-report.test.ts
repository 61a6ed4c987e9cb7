import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { REPO, removeDir, tempDir } from '../helpers/cli.js';

// `npm run bench` does not rewrite the tracked docs/benchmarks.md by itself (#21): its report
// goes to stdout, and into a file only when BENCH_OUT names one.

const DOC_SECTION = fileURLToPath(new URL('../../bench/doc-section.js', import.meta.url));

function writeSection(env: NodeJS.ProcessEnv): { stdout: string; stderr: string } {
  const script = `import(${JSON.stringify(DOC_SECTION)}).then((m) => m.writeSection('demo', '| a | b |\\n| 1 | 2 |'))`;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: REPO, env: { ...process.env, BENCH_OUT: '', ...env } });
  assert.equal(result.status, 0, result.stderr);
  return result;
}

test('a bench report goes to stdout and leaves docs/benchmarks.md alone unless BENCH_OUT names a file', async () => {
  const tracked = join(REPO, 'docs', 'benchmarks.md');
  const before = await readFile(tracked, 'utf8');
  const plain = writeSection({});
  assert.equal(plain.stdout, '| a | b |\n| 1 | 2 |\n');
  assert.match(plain.stderr, /BENCH_OUT=FILE/);
  assert.equal(await readFile(tracked, 'utf8'), before);

  const dir = await tempDir('sealbuild-bench-report-');
  try {
    const out = join(dir, 'report.md');
    await writeFile(out, '# Mine\n\n<!-- bench:demo -->\nold\n<!-- /bench:demo -->\n\nkept\n');
    writeSection({ BENCH_OUT: out });
    assert.equal(await readFile(out, 'utf8'), '# Mine\n\n<!-- bench:demo -->\n| a | b |\n| 1 | 2 |\n<!-- /bench:demo -->\n\nkept\n');
    assert.equal(await readFile(tracked, 'utf8'), before);
  } finally {
    await removeDir(dir);
  }
});

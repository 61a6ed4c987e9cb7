import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, REPO, removeDir, tempDir, tool } from '../helpers/cli.js';
import { screen } from '../helpers/screen.js';

// The live progress view as a person sees it: sealbuild runs on a pseudo-terminal (util-linux
// `script`), 120 columns wide, and the test reads the screen that its output leaves.

let work: string;
let ctx: string;

/** Runs sealbuild on a pseudo-terminal; resolves with everything the terminal was sent. */
function onTerminal(args: string[], env: NodeJS.ProcessEnv = {}, columns = 120): Promise<{ code: number; transcript: string }> {
  const quoted = [process.execPath, CLI, '--root', join(work, 'root'), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-f', '-c', `stty cols ${columns} rows 40; ${quoted}`, '/dev/null'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SOURCE_DATE_EPOCH: '', NO_COLOR: '', ...env } });
    let transcript = '';
    child.stdout.on('data', (d: Buffer) => (transcript += d.toString()));
    child.stderr.on('data', (d: Buffer) => (transcript += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, transcript }));
  });
}

before(async () => {
  tool('script', 'util-linux');
  work = await tempDir();
  ctx = join(work, 'ctx');
  await mkdir(ctx);
  // Random bytes compress slowly: the layer takes long enough to be seen being written.
  await writeFile(join(ctx, 'big.bin'), randomBytes(48 * 1024 * 1024));
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY big.bin /\nLABEL done=yes\n');
});
after(async () => {
  await removeDir(work);
});

test('on a terminal: one line per step with its time, the layer\'s bytes while it is written, CACHED on a rebuild, the total', async () => {
  const first = await onTerminal(['-t', 'tty/app:1', ctx]);
  assert.equal(first.code, 0, first.transcript);
  // While the layer was written, its line showed bytes done of the total.
  assert.match(first.transcript.replace(/\x1b\[[0-9;]*m/g, ''), /=> \[linux\/amd64 2\/3\] COPY big\.bin \/ +\d+(\.\d+)? (kB|MB) \/ 50\.3 MB/);
  const shown = screen(first.transcript);
  const at = shown.findIndex((l) => l.startsWith('=> [linux/amd64 1/3]'));
  assert.match(shown[at]!, /^=> \[linux\/amd64 1\/3\] FROM scratch +\d+\.\ds$/);
  assert.match(shown[at + 1]!, /^=> \[linux\/amd64 2\/3\] COPY big\.bin \/ +50\.\d MB +\d+\.\ds$/);
  assert.match(shown[at + 2]!, /^=> \[linux\/amd64 3\/3\] LABEL done=yes +\d+\.\ds$/);
  assert.match(shown.find((l) => l.startsWith('[+]'))!, /^\[\+\] Built docker\.io\/tty\/app:1 in \d+\.\ds \(3 steps\)$/);
  assert.ok(shown.some((l) => /^sha256:[0-9a-f]{64}$/.test(l)), 'the digest, on stdout');
  assert.match(first.transcript, /\x1b\[34m=>/, 'colours on a terminal');

  const again = await onTerminal(['-t', 'tty/app:1', ctx], { NO_COLOR: '1' });
  assert.equal(again.code, 0, again.transcript);
  assert.ok(screen(again.transcript).some((l) => /^=> CACHED \[linux\/amd64 2\/3\] COPY big\.bin \/ +\d+\.\ds$/.test(l)), again.transcript);
  assert.doesNotMatch(again.transcript, /\x1b\[[0-9;]*m/, 'NO_COLOR: no colour codes');
});

test('--progress plain on a terminal stays line-based; --progress tty draws even into a pipe', async () => {
  const plain = await onTerminal(['--progress', 'plain', '-t', 'tty/app:2', ctx]);
  assert.equal(plain.code, 0, plain.transcript);
  assert.doesNotMatch(plain.transcript, /\x1b\[/);
  assert.match(plain.transcript, /STEP 2\/3 \[linux\/amd64\]: COPY big\.bin \/\r?\n {2}CACHED [0-9a-f]{12}/);
});

test("the README's \"What you see\" is the screen examples/hello's build leaves today (times, sizes and digests aside)", async () => {
  // As the README says: scripts/example.sh's build, one platform, 100 columns.
  const built = await onTerminal(['-t', 'example/hello:v0.1.0', '--platform', 'linux/amd64', 'examples/hello'], {}, 100);
  assert.equal(built.code, 0, built.transcript);
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## What you see'));
  const captured = /```text\n([\s\S]*?)\n```/.exec(section)![1]!;
  // Times, and the sizes of layers (their tar headers hold the files' mtimes, which differ from
  // one checkout to the next), change with every run and the padding with them: compare with
  // those as one token each and blanks squeezed.
  const normal = (lines: string[]) =>
    lines.map((l) => l.replace(/\b\d+\.\ds\b/g, 'T').replace(/\b\d+(\.\d+)? [kMG]?B\b/g, 'S').replace(/sha256:[0-9a-f]{64}/g, 'sha256:D').replace(/ +/g, ' ').trimEnd());
  const shown = screen(built.transcript);
  assert.deepEqual(normal(shown.slice(shown.findIndex((l) => l.startsWith('=> ')))), normal(captured.split('\n')));
});

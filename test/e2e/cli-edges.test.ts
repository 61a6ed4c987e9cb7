/*
 * What a new user meets first, through the CLI (#21): output piped into a reader that stops
 * early, a mistyped command, what commands print on success, which commands create the store.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, removeDir, sealbuild, sealbuildOk, tempDir, type RunResult } from '../helpers/cli.js';

let work: string;
let root: string;
let ctx: string;

before(async () => {
  work = await tempDir('sealbuild-edges-');
  root = join(work, 'root');
  ctx = join(work, 'ctx');
  await mkdir(ctx);
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nLABEL purpose=edges\nCOPY app.txt /\n');
  await writeFile(join(ctx, 'app.txt'), 'app\n');
  await sealbuildOk(root, ['-t', 'edges/app:v1', ctx]);
});
after(() => removeDir(work));

/** Runs sealbuild with its stdout read by nobody: the pipe is closed before it writes, as `| head` does once satisfied. */
function withClosedStdout(args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--root', root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: '', stderr }));
  });
}

test('a reader that closes the pipe early (| head) ends the command quietly with exit 0', async () => {
  for (const args of [['inspect', 'edges/app:v1'], ['inspect', '--json', 'edges/app:v1'], ['images']]) {
    const result = await withClosedStdout(args);
    assert.deepEqual({ code: result.code, stderr: result.stderr }, { code: 0, stderr: '' }, `sealbuild ${args.join(' ')}`);
  }
});

test('inspect prints text; --json prints one JSON object', async () => {
  const text = await sealbuildOk(root, ['inspect', 'edges/app:v1']);
  assert.match(text.stdout, /^Name: {6}docker\.io\/edges\/app:v1\nDigest: {4}sha256:[0-9a-f]{64}\n/);
  assert.match(text.stdout, /\nLabels:\n {2}purpose=edges\n/);
  assert.throws(() => JSON.parse(text.stdout));
  const json = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'edges/app:v1'])).stdout);
  assert.equal(json.labels.purpose, 'edges');
});

test('a Kubefile error starts with the Kubefile path relative to the current directory', async () => {
  await mkdir(join(work, 'bad'));
  await writeFile(join(work, 'bad', 'Kubefile'), 'FROM scratch\nWORKDIR /x\n');
  const inParent = await sealbuild(root, ['bad'], { cwd: work });
  assert.equal(inParent.code, 1);
  assert.match(inParent.stderr, /^Error: bad\/Kubefile:2:1: WORKDIR /);
  const inside = await sealbuild(root, ['-f', join(work, 'bad', 'Kubefile'), '.'], { cwd: join(work, 'bad') });
  assert.match(inside.stderr, /^Error: Kubefile:2:1: WORKDIR /);
});

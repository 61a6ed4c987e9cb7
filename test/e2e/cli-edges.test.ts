/*
 * What a new user meets first, through the CLI (#21): output piped into a reader that stops
 * early, a mistyped command, what commands print on success, which commands create the store.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliCommand, removeDir, sealbuild, sealbuildOk, tempDir, type RunResult } from '../helpers/cli.js';

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
    const child = spawn(...cliCommand(['--root', root, ...args]), { stdio: ['ignore', 'pipe', 'pipe'] });
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
  await writeFile(join(work, 'bad', 'Kubefile'), 'FROM scratch\nFROBNICATE /x\n');
  const inParent = await sealbuild(root, ['bad'], { cwd: work });
  assert.equal(inParent.code, 1);
  assert.match(inParent.stderr, /^Error: bad\/Kubefile:2:1: unknown instruction "FROBNICATE"/m);
  const inside = await sealbuild(root, ['-f', join(work, 'bad', 'Kubefile'), '.'], { cwd: join(work, 'bad') });
  assert.match(inside.stderr, /^Error: Kubefile:2:1: unknown instruction "FROBNICATE"/m);
});

test('a mistyped command is not taken for a build context', async () => {
  const near = await sealbuild(root, ['imagse'], { cwd: work });
  assert.deepEqual(near, { code: 2, stdout: '', stderr: 'Error: unknown command "imagse" (hint: did you mean images?)\n' });
  const far = await sealbuild(root, ['frobnicate'], { cwd: work });
  assert.equal(far.code, 2);
  assert.match(far.stderr, /^Error: unknown command or directory "frobnicate" \(hint: `sealbuild --help` lists the commands; [^\n]*\)\n$/);
  // Asked for a build, or given a path, it is a missing context.
  for (const args of [['build', 'frobnicate'], ['./frobnicate']]) {
    const result = await sealbuild(root, args, { cwd: work });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^Error: build context "\.?\/?frobnicate" is not a directory /);
  }
});

test('commands that only read create no store; they see an empty one', async () => {
  const none = join(work, 'no-store');
  assert.equal((await sealbuildOk(none, ['images'])).stdout, 'REPOSITORY  TAG  DIGEST  PLATFORMS  SIZE  CREATED\n');
  assert.equal((await sealbuildOk(none, ['images', '--json'])).stdout, '[]\n');
  for (const args of [['inspect', 'edges/app:v1'], ['rmi', 'edges/app:v1'], ['tag', 'edges/app:v1', 'edges/app:v2'], ['save', 'edges/app:v1', '-o', join(work, 'x.tar')], ['export', 'edges/app:v1', '-o', join(work, 'x')], ['verify', 'edges/app:v1'], ['manifest', 'push', 'edges/list:v1', '127.0.0.1:9/edges/list:v1']]) {
    const result = await sealbuild(none, args);
    assert.equal(result.code, 1, `sealbuild ${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /^Error: (image|manifest list) "edges\/(app|list):v1" is not in the store /, `sealbuild ${args.join(' ')}`);
  }
  await assert.rejects(stat(none), { code: 'ENOENT' });
});

test('tag says what it named; rmi what it removed', async () => {
  const digest = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'edges/app:v1'])).stdout).digest;
  assert.equal((await sealbuildOk(root, ['tag', 'edges/app:v1', 'edges/app:latest'])).stdout, `Tagged: docker.io/edges/app:latest ${digest}\n`);
  assert.equal((await sealbuildOk(root, ['rmi', 'edges/app:latest'])).stdout, 'Untagged: docker.io/edges/app:latest\n');
});

test('prune says which running build it waits for, then prunes', async () => {
  const gate = join(work, 'gate');
  await writeFile(join(ctx, 'Kubefile.wait'), `FROM scratch\nRUN while [ ! -e ${gate} ]; do sleep 0.1; done; echo done > done.txt\n`);
  // --isolation none: the command sees the host's /tmp, where the gate appears.
  const build = sealbuild(root, ['-t', 'edges/wait:v1', '--isolation', 'none', '-f', join(ctx, 'Kubefile.wait'), ctx]);
  const leases = join(root, 'leases');
  while (!(await readdir(leases).catch(() => [] as string[])).some((n) => n.startsWith('build-'))) await sleep(50);
  const prune = spawn(...cliCommand(['--root', root, '--progress', 'plain', 'prune']), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  prune.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const waiting = new Promise<void>((resolve) => prune.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.includes('\n')) resolve();
  }));
  const exited = new Promise<number>((resolve) => prune.on('close', (code) => resolve(code ?? -1)));
  await waiting;
  assert.match(stderr, new RegExp(`^waiting for sealbuild process \\d+ \\(build, pull, load or manifest write\\) to finish with the store at ${root} \\(at most 60s\\)\\n$`));
  assert.equal(stdout, '', 'nothing pruned yet');
  await writeFile(gate, '');
  assert.equal((await build).code, 0);
  assert.equal(await exited, 0);
  assert.match(stdout, /^Removed \d+ cache entries and \d+ blobs/);
});

test('init + build needs no network once the base image is in the store', async () => {
  const dir = join(work, 'mycluster');
  await sealbuildOk(root, ['init', '--runtime', 'k3s', dir, '--base', 'edges/app:v1']);
  const built = await sealbuild(root, ['-t', 'edges/cluster:v1', dir], { offline: true });
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stdout, /^sha256:[0-9a-f]{64}\n$/);
});

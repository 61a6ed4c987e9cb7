/*
 * Bad input end to end: every failure the CLI can be driven into by a user must be one
 * `Error: ...` line on stderr with the right exit code, and must leave the store byte for
 * byte as it was (no blob added, no tag moved, index.json not rewritten). Each case runs
 * against one store that already holds my/base:v1, and every failing build asks for that same
 * tag, so a moved tag would show.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, type RunResult, sealbuild, sealbuildOk, snapshot, tempDir, writtenLayers } from '../helpers/cli.js';

const TAG = 'my/base:v1';
const MISSING_IMAGE = 'my/absent:v1';
const DOWNLOAD = Buffer.from('the bytes a URL serves\n');
const DOWNLOAD_DIGEST = `sha256:${createHash('sha256').update(DOWNLOAD).digest('hex')}`;
const WRONG_DIGEST = `sha256:${createHash('sha256').update('something else').digest('hex')}`;

/** Working directory of every run: holds ctx/, the case Kubefiles and export/save targets. */
let work: string;
/** A directory outside the context that the context's symlinks point into. */
let outside: string;
let store: string;
let server: Server;
let baseUrl: string;
let baseDigest: string;
/** The store's blobs and parsed index.json right after the first build. */
let initialState: StoreState;

interface StoreState {
  blobs: string[];
  index: unknown;
}

async function storeState(): Promise<StoreState> {
  return {
    blobs: (await readdir(join(store, 'oci', 'blobs', 'sha256'))).sort(),
    index: JSON.parse(await readFile(join(store, 'oci', 'index.json'), 'utf8')) as unknown,
  };
}

before(async () => {
  [work, outside, store] = await Promise.all([tempDir('sealbuild-bad-work-'), tempDir('sealbuild-bad-outside-'), tempDir('sealbuild-bad-store-')]);
  const ctx = join(work, 'ctx');
  await mkdir(join(ctx, 'arch', 'amd64'), { recursive: true });
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY base.txt /\nLABEL purpose=base\n');
  await writeFile(join(ctx, 'base.txt'), 'in the base image\n');
  await writeFile(join(ctx, 'ok.txt'), 'only failing builds copy this\n');
  await writeFile(join(ctx, 'secret.txt'), 'excluded\n');
  await writeFile(join(ctx, '.dockerignore'), 'secret.txt\n');
  await symlink('secret.txt', join(ctx, 'secret-link'));
  await writeFile(join(ctx, 'arch', 'amd64', 'tool'), 'amd64 only\n');
  await writeFile(join(outside, 'passwords'), 'not part of the context\n');
  await symlink(join(outside, 'passwords'), join(ctx, 'link-file'));
  await symlink(outside, join(ctx, 'link-dir'));
  await mkdir(join(work, 'not-empty'));
  await writeFile(join(work, 'not-empty', 'keep.txt'), 'mine\n');

  server = createServer((req, res) => {
    if (req.url === '/tool.bin') res.end(DOWNLOAD);
    else res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  baseDigest = (await sealbuildOk(store, ['-t', TAG, 'ctx'], { cwd: work })).stdout.trim();
  assert.match(baseDigest, /^sha256:[0-9a-f]{64}$/);
  initialState = await storeState();
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await Promise.all([work, outside, store].map(removeDir));
});

/** One `Error: ` line, no stack trace, containing every one of `patterns`. */
function assertErrorLine(stderr: string, patterns: string[]): void {
  assert.match(stderr, /^Error: [^\n]*\n$/, `not one error line: ${JSON.stringify(stderr)}`);
  assert.doesNotMatch(stderr, /\bat .+\.js:\d+/, 'stack trace on stderr');
  for (const pattern of patterns) assert.ok(stderr.includes(pattern), `stderr lacks ${JSON.stringify(pattern)}: ${stderr}`);
}

/**
 * Runs `sealbuild ARGS` in the working directory and checks that it changed nothing: the
 * store is byte for byte as it was, and nothing new appeared next to the command either.
 */
async function runChangingNothing(args: string[]): Promise<RunResult> {
  const [storeBefore, workBefore] = [await snapshot(store), (await readdir(work)).sort()];
  const result = await sealbuild(store, args, { cwd: work });
  assert.deepEqual(await snapshot(store), storeBefore, `the failed command changed the store; stderr: ${result.stderr}`);
  assert.deepEqual((await readdir(work)).sort(), workBefore, 'the failed command left files behind');
  return result;
}

/** Runs `sealbuild ARGS` quietly (so stderr holds only the error) and checks the failure. */
async function expectFailure(args: string[], code: 1 | 2, ...patterns: string[]): Promise<void> {
  const result = await runChangingNothing(['--progress', 'quiet', ...args]);
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '');
  assertErrorLine(result.stderr, patterns);
}

/** Writes `NAME.Kubefile` into the working directory; returns its path as messages show it. */
async function kubefile(name: string, ...lines: string[]): Promise<string> {
  const file = `${name}.Kubefile`;
  await writeFile(join(work, file), `${lines.join('\n')}\n`);
  return file;
}

/** Builds ctx with the Kubefile `lines`, expecting exit 1 and an error at `line:col` of it. */
async function expectKubefileFailure(name: string, lines: string[], at: [number, number], ...patterns: string[]): Promise<void> {
  const file = await kubefile(name, ...lines);
  await expectFailure(['-t', TAG, '-f', file, 'ctx'], 1, `Error: ${file}:${at[0]}:${at[1]}: `, ...patterns);
}

test('1. a context directory that does not exist', async () => {
  await expectFailure(['-t', TAG, '-f', 'ctx/Kubefile', 'no-such-dir'], 2, 'build context "no-such-dir" is not a directory');
  await expectFailure(['-t', TAG, 'no-such-dir'], 2, 'build context "no-such-dir" is not a directory');
});

test('2. no Kubefile: none in the context, or -f naming a missing file', async () => {
  await mkdir(join(work, 'empty-ctx'));
  await expectFailure(['-t', TAG, 'empty-ctx'], 2, 'no Kubefile in empty-ctx: looked for Kubefile, Sealfile, Dockerfile, Containerfile', 'hint: put a Kubefile in the context directory');
  await expectFailure(['-t', TAG, '-f', 'missing.Kubefile', 'ctx'], 2, 'Kubefile not found: missing.Kubefile', 'hint: check the -f path');
});

test('3. Kubefile syntax and structure errors point at file:line:col', async () => {
  await expectKubefileFailure('copy-one-arg', ['FROM scratch', 'COPY only'], [2, 1], 'COPY needs at least one source and a destination', 'hint: usage: COPY');
  await expectKubefileFailure('typo', ['FROM scratch', 'LABEL a=b', 'COPPY a b'], [3, 1], 'unknown instruction "COPPY"', '(hint: did you mean COPY?)');
  await expectKubefileFailure('before-from', ['LABEL a=b', 'FROM scratch'], [1, 1], 'LABEL before the first FROM');
  await expectKubefileFailure('launch-early', ['FROM scratch', 'LAUNCH ["app"]', 'LABEL a=b'], [2, 1], 'LAUNCH must be the last instruction');
});

test('4. COPY sources that are missing or outside the context', async () => {
  await expectKubefileFailure('missing-source', ['FROM scratch', 'COPY nothere /'], [2, 1], 'COPY source "nothere" not found in the build context');
  // `../x` and `/x` read CONTEXT/x, as BuildKit does (with a warning): test/e2e/interop.test.ts.
  const escapes = `resolves outside the build context (to ${outside}`;
  await expectKubefileFailure('symlink-file', ['FROM scratch', 'COPY link-file /'], [2, 1], `COPY source "link-file" ${escapes}/passwords)`);
  await expectKubefileFailure('symlink-dir', ['FROM scratch', 'COPY link-dir /x/'], [2, 1], `COPY source "link-dir" ${escapes})`);
  await expectKubefileFailure('through-symlink-dir', ['FROM scratch', 'COPY link-dir/passwords /'], [2, 1], `COPY source "link-dir/passwords" ${escapes}/passwords)`);
});

test('5. a source excluded by .dockerignore', async () => {
  await expectKubefileFailure('ignored', ['FROM scratch', 'COPY secret.txt /'], [2, 1], 'COPY source "secret.txt" is excluded by .dockerignore');
  // Nor through a symlink to it.
  await expectKubefileFailure('ignored-link', ['FROM scratch', 'COPY secret-link /'], [2, 1], 'COPY source "secret-link" is a symlink to "secret.txt", which .dockerignore/.sealignore exclude');
});

test('6. malformed flags are usage errors naming the flag', async () => {
  await expectFailure(['-t', TAG, '--build-arg', '=x', 'ctx'], 2, '--build-arg "=x"', 'is not a valid name');
  await expectFailure(['-t', TAG, '--build-arg', '1A=b', 'ctx'], 2, '--build-arg "1A=b": "1A" is not a valid name');
  await expectFailure(['-t', TAG, '--platform', 'linux/sparc', 'ctx'], 2, '--platform', '"sparc"');
  await expectFailure(['-t', TAG, '--compression', 'lz4', 'ctx'], 2, '--compression', '"lz4"');
  // `UPPER/case` is valid (docker reads an uppercase first component as a registry host).
  await expectFailure(['-t', 'UPPER', 'ctx'], 2, 'invalid image reference "UPPER"', 'lowercase');
  await expectFailure(['-t', 'my/App:v1', 'ctx'], 2, 'invalid image reference "my/App:v1"', 'lowercase');
  // Output files are checked before the build: a new tag would otherwise be set, then the write fail.
  await expectFailure(['-t', 'test/other:v1', '--iidfile', 'not-empty', 'ctx'], 2, '--iidfile not-empty is a directory');
  await expectFailure(['-t', 'test/other:v1', '--metadata-file', 'missing-dir/m.json', 'ctx'], 2, '--metadata-file missing-dir/m.json:', 'missing-dir is not a directory');
});

test('7. ADD of a URL: checksum mismatch, HTTP 404', async () => {
  const url = `${baseUrl}/tool.bin`;
  await expectKubefileFailure('bad-checksum', ['FROM scratch', 'COPY ok.txt /', `ADD --checksum=${WRONG_DIGEST} ${url} /tool.bin`], [3, 1],
    `ADD ${url}: checksum mismatch`, `expected ${WRONG_DIGEST}`, `got ${DOWNLOAD_DIGEST}`);
  await expectKubefileFailure('not-found', ['FROM scratch', `ADD ${baseUrl}/nothing.bin /nothing.bin`], [2, 1], `ADD ${baseUrl}/nothing.bin: download failed: HTTP 404`);
});

test('8. a build failing after layers were written leaves no blob behind', async () => {
  // JSON progress, to see that the first COPY's layer really was written before the failure.
  const file = await kubefile('fails-last', 'FROM scratch', 'COPY ok.txt /', 'COPY missing /');
  const result = await runChangingNothing(['--progress', 'json', '-t', TAG, '-f', file, 'ctx']);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stdout, '');
  const lines = result.stderr.split(/(?<=\n)/);
  assertErrorLine(lines.pop()!, [`Error: ${file}:3:1: COPY source "missing" not found`]);
  const written = writtenLayers(lines.join(''));
  assert.equal(written.length, 1, `expected one layer before the failure: ${result.stderr}`);
  const blobs = await readdir(join(store, 'oci', 'blobs', 'sha256'));
  assert.ok(!blobs.includes(written[0]!.replace('sha256:', '')), `layer ${written[0]} of a failed build is in the store`);

  // The first platform's image (layers, config, manifest) is complete when the second fails.
  const perArch = await kubefile('fails-second-platform', 'FROM scratch', 'COPY arch/${ARCH}/ /bin/');
  await expectFailure(['-t', TAG, '--platform', 'linux/amd64,linux/arm64', '-f', perArch, 'ctx'], 1,
    `Error: ${perArch}:2:1: COPY source "arch/arm64/" not found`);
});

test('9. a failing RUN names its line and exit code, after a layer was already written', async () => {
  await expectKubefileFailure('run', ['FROM scratch', 'COPY ok.txt /', 'RUN echo oops >&2; exit 3'], [3, 1], 'RUN failed with exit code 3: oops');
});

for (const args of [['inspect', MISSING_IMAGE], ['rmi', MISSING_IMAGE], ['tag', MISSING_IMAGE, 'my/other:v1'], ['export', MISSING_IMAGE, '-o', 'rootfs'], ['save', MISSING_IMAGE, '-o', 'images.tar']]) {
  test(`10. ${args[0]} of an image that is not in the store`, async () => {
    await expectFailure(args, 1, `image "${MISSING_IMAGE}" is not in the store`);
  });
}

test('10. export into a non-empty directory', async () => {
  await expectFailure(['export', TAG, '-o', 'not-empty'], 2, 'export target not-empty is not empty');
  await expectFailure(['export', TAG, '-o', 'not-empty/keep.txt'], 2, 'export target not-empty/keep.txt is not a directory');
  assert.deepEqual(await readdir(join(work, 'not-empty')), ['keep.txt']);
});

test('the first image is untouched by all of the above', async () => {
  const inspected = JSON.parse((await sealbuildOk(store, ['inspect', '--json', TAG])).stdout) as { digest: string };
  assert.equal(inspected.digest, baseDigest);
  assert.deepEqual(await storeState(), initialState, 'blobs or tags changed');
});

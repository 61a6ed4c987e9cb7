/*
 * The build record (src/builder/build-record.ts): a rebuild with nothing changed reuses the last
 * build's result without building, and prints what that build printed; every input the record
 * lists, changed, makes the next build a full one again. `--debug` says when a record was reused.
 */
import assert from 'node:assert/strict';
import { cp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO, removeDir, sealbuildOk, tempDir, tool, writeFiles } from '../helpers/cli.js';

const REUSED = 'its result is reused (build record)';
/** A file changed less than 2 s before a build keeps that build from being recorded (builder/racy.ts). */
const RACY_WAIT_MS = 2100;

let work: string;

before(async () => {
  work = await tempDir('sealbuild-record-');
});
after(() => removeDir(work));

/** A context with a Kubefile and a few files, aged past the racy window. */
async function context(name: string, kubefile: string[], files: Record<string, string> = {}): Promise<string> {
  const dir = join(work, name);
  await writeFiles(dir, { Kubefile: `${kubefile.join('\n')}\n`, 'etc/app.conf': 'a=1\n', 'bin/tool': 'tool v1\n', ...files });
  await sleep(RACY_WAIT_MS);
  return dir;
}

/** A build's digest and whether it reused a record, with its progress lines but the last ("Built … in Ns"). */
async function build(root: string, args: string[]): Promise<{ digest: string; reused: boolean; lines: string[] }> {
  const result = await sealbuildOk(root, ['--debug', 'build', ...args]);
  const lines = result.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('Built ') && !l.includes(REUSED));
  return { digest: result.stdout.trim(), reused: result.stderr.includes(REUSED), lines };
}

/**
 * Builds until one reuses a record, and returns that one. The build before it was a cached full
 * build (one that wrote layers, or read a file changed in the last 2 s, is not recorded): the
 * reused build printed the same lines and gave the same digest.
 */
async function reusing(root: string, args: string[]): Promise<{ digest: string; lines: string[] }> {
  // A file the test just wrote keeps builds from being recorded for 2 s, however many fit in them.
  const started = Date.now();
  let last = await build(root, args);
  assert.equal(last.reused, false, 'the first build of a sequence is a full one here');
  for (let i = 0; i < 4 || Date.now() - started < 2 * RACY_WAIT_MS; i++) {
    const next = await build(root, args);
    if (next.reused) {
      assert.equal(next.digest, last.digest);
      assert.deepEqual(next.lines, last.lines, 'a reused build prints what the cached build before it printed');
      return next;
    }
    last = next;
  }
  throw new Error('no build reused the record');
}

test('a rebuild with nothing changed reuses the record, prints the cached build\'s lines and moves every tag', async () => {
  const root = join(work, 'root-same');
  const ctx = await context('same', ['FROM scratch', 'COPY bin/ /bin/', 'COPY etc/ /etc/', 'LABEL a=b']);
  const again = await reusing(root, ['-t', 'rec/same:1', ctx]);
  assert.ok(again.lines.some((l) => /^ {2}CACHED /.test(l)), again.lines.join('\n'));
  // A new tag is part of the request: a full build, then the new tag names the same image.
  const tagged = await build(root, ['-t', 'rec/same:1', '-t', 'rec/same:2', ctx]);
  assert.equal(tagged.reused, false);
  assert.equal(tagged.digest, again.digest);
  const images = await sealbuildOk(root, ['images']);
  assert.match(images.stdout, /rec\/same\s+2/);
});

test('a changed file, a changed ignore file, a changed build arg and a changed flag each build again', async () => {
  const root = join(work, 'root-inputs');
  const ctx = await context('inputs', ['FROM scratch', 'ARG GREETING=hello', 'COPY bin/ /bin/', 'COPY etc/ /etc/', 'LABEL greeting=$GREETING'], { 'etc/extra.conf': 'x=1\n' });
  const args = ['-t', 'rec/inputs:1', '--build-arg', 'GREETING=hi', ctx];
  const first = await reusing(root, args);

  await writeFile(join(ctx, 'etc', 'app.conf'), 'a=2\n');
  const edited = await build(root, args);
  assert.equal(edited.reused, false);
  assert.notEqual(edited.digest, first.digest, 'a changed file changes the image');

  const beforeIgnore = await reusing(root, args);
  await writeFile(join(ctx, '.dockerignore'), 'etc/extra.conf\n');
  const ignoring = await build(root, args);
  assert.equal(ignoring.reused, false);
  assert.notEqual(ignoring.digest, beforeIgnore.digest, 'an ignore file that leaves a file out changes the image');

  const beforeArg = await reusing(root, args);
  const otherArg = await build(root, ['-t', 'rec/inputs:1', '--build-arg', 'GREETING=hey', ctx]);
  assert.equal(otherArg.reused, false);
  assert.notEqual(otherArg.digest, beforeArg.digest, 'a changed build arg changes the image');

  const otherFlag = await build(root, [...args.slice(0, -1), '--label', 'extra=1', ctx]);
  assert.equal(otherFlag.reused, false);
  assert.notEqual(otherFlag.digest, beforeArg.digest, 'a changed flag changes the image');
  const otherCompression = await build(root, [...args.slice(0, -1), '--compression', 'none', ctx]);
  assert.equal(otherCompression.reused, false);
  assert.notEqual(otherCompression.digest, beforeArg.digest, '--compression changes the layers');
});

test('a local base tag moved to another image builds again, FROM the new one', async () => {
  const root = join(work, 'root-base');
  const baseA = await context('base-a', ['FROM scratch', 'COPY etc/ /etc/'], { 'etc/base': 'A\n' });
  const baseB = await context('base-b', ['FROM scratch', 'COPY etc/ /etc/'], { 'etc/base': 'B\n' });
  const app = await context('app', ['FROM rec/base:1', 'COPY bin/ /bin/']);
  await build(root, ['-t', 'rec/base:1', baseA]);
  const first = await reusing(root, ['-t', 'rec/app:1', app]);
  await build(root, ['-t', 'rec/base:1', baseB]);
  const moved = await build(root, ['-t', 'rec/app:1', app]);
  assert.equal(moved.reused, false);
  assert.notEqual(moved.digest, first.digest, 'the image is built on the base the tag names now');
});

test('a blob of the recorded image gone from the store builds again and brings it back', async () => {
  const root = join(work, 'root-blob');
  const ctx = await context('blob', ['FROM scratch', 'COPY bin/ /bin/', 'COPY etc/ /etc/']);
  const first = await reusing(root, ['-t', 'rec/blob:1', ctx]);
  const blobs = join(root, 'oci', 'blobs', 'sha256');
  const before = new Set(await readdir(blobs));
  // The manifest blob: without it the tag would name nothing.
  await rm(join(blobs, first.digest.slice('sha256:'.length)));
  const rebuilt = await build(root, ['-t', 'rec/blob:1', ctx]);
  assert.equal(rebuilt.reused, false);
  assert.equal(rebuilt.digest, first.digest);
  assert.deepEqual(new Set(await readdir(blobs)), before);
  await sealbuildOk(root, ['inspect', 'rec/blob:1']);
});

test('a layer cache entry that a --no-cache build pointed at a new layer builds again, on that layer', async () => {
  tool('bwrap', 'bubblewrap');
  const root = join(work, 'root-nocache');
  // A RUN whose output differs every time it runs: what the layer cache holds decides the image.
  const ctx = await context('nocache', ['FROM scratch', 'COPY bin/ /bin/', 'RUN head -c 16 /dev/urandom | od -An -tx1 > bin/random']);
  const first = await reusing(root, ['-t', 'rec/nocache:1', ctx]);
  const fresh = await build(root, ['-t', 'rec/nocache:1', '--no-cache', ctx]);
  assert.notEqual(fresh.digest, first.digest);
  const after = await build(root, ['-t', 'rec/nocache:1', ctx]);
  assert.equal(after.reused, false);
  assert.equal(after.digest, fresh.digest, 'the build takes the RUN layer the cache holds now');
});

test('a build that reads an image file (examples/hello\'s imageList) is never reused: the file is read every time', async () => {
  const root = join(work, 'root-example');
  const ctx = join(work, 'example');
  await cp(join(REPO, 'examples', 'hello'), ctx, { recursive: true });
  await sleep(RACY_WAIT_MS);
  const args = ['-t', 'rec/example:1', '--platform', 'linux/amd64', ctx];
  const builds = [await build(root, args), await build(root, args), await build(root, args)];
  assert.deepEqual(builds.map((b) => b.reused), [false, false, false]);
  assert.equal(new Set(builds.map((b) => b.digest)).size, 1);
});

test('a build that downloads an ADD URL is never reused: a changed download changes the image', async () => {
  let body = 'v1\n';
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const root = join(work, 'root-url');
    const ctx = await context('url', ['FROM scratch', 'COPY bin/ /bin/', `ADD http://127.0.0.1:${port}/file.txt /etc/file.txt`]);
    const args = ['-t', 'rec/url:1', ctx];
    const builds = [await build(root, args), await build(root, args), await build(root, args)];
    assert.deepEqual(builds.map((b) => b.reused), [false, false, false]);
    assert.equal(new Set(builds.map((b) => b.digest)).size, 1);
    body = 'v2\n';
    const changed = await build(root, args);
    assert.notEqual(changed.digest, builds[0]!.digest);
  } finally {
    server.close();
  }
});

test('a build with a chart is never reused: what helm renders (or whether helm is installed) is not an input it can check', async () => {
  const root = join(work, 'root-chart');
  const ctx = await context('chart', ['FROM scratch', 'COPY charts/ /charts/'], {
    'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
    'charts/web/values.yaml': 'replicas: 1\n',
  });
  const args = ['-t', 'rec/chart:1', ctx];
  const builds = [await build(root, args), await build(root, args), await build(root, args)];
  assert.deepEqual(builds.map((b) => b.reused), [false, false, false]);
  assert.equal(new Set(builds.map((b) => b.digest)).size, 1);
});

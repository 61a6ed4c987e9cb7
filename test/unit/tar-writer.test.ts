import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { extract } from 'tar-stream';
import { tarKey, writeTar, type LayerEntry } from '../../src/layer/tar-writer.js';
import { removeDir, tempDir } from '../helpers/cli.js';

let dir: string;
before(async () => {
  dir = await tempDir();
  await writeFile(join(dir, 'data'), 'x'.repeat(10_000));
  await writeFile(join(dir, 'empty'), '');
});
after(() => removeDir(dir));

async function collectBytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function headers(bytes: Buffer): Promise<{ name: string; type: string; mode: number; uid: number; gid: number; uname: string; gname: string; mtime: number; linkname: string | null; size: number }[]> {
  const out: Awaited<ReturnType<typeof headers>> = [];
  const reader = extract();
  reader.on('entry', (h, body, next) => {
    out.push({ name: h.name, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, uname: h.uname, gname: h.gname, mtime: h.mtime.getTime(), linkname: h.linkname ?? null, size: h.size });
    body.on('end', () => next());
    body.resume();
  });
  const done = new Promise<void>((resolve, reject) => reader.on('finish', () => resolve()).on('error', reject));
  reader.end(bytes);
  await done;
  return out;
}

function entries(): LayerEntry[] {
  const long = `deep/${'d'.repeat(120)}/${'f'.repeat(120)}`;
  return [
    { path: 'b-file', type: 'file', mode: 0o755, uid: 0, gid: 0, size: 10_000, source: join(dir, 'data') },
    { path: 'b', type: 'directory', mode: 0o700, uid: 0, gid: 0 },
    { path: 'b/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: '../b-file' },
    { path: 'b/hard', type: 'link', mode: 0o755, uid: 0, gid: 0, linkname: 'b-file' },
    { path: 'a/empty', type: 'file', mode: 0o600, uid: 1000, gid: 1000, size: 0, source: join(dir, 'empty') },
    { path: 'a', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
    { path: 'deep', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
    { path: long, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10_000, source: join(dir, 'data') },
  ];
}

test('tar output is sorted, owner-less and timestamped as asked', async () => {
  const bytes = await collectBytes(writeTar(entries(), new Date(0)));
  const list = await headers(bytes);
  assert.deepEqual(list.map((h) => h.name), ['a/', 'a/empty', 'b/', 'b-file', 'b/hard', 'b/link', 'deep/', `deep/${'d'.repeat(120)}/${'f'.repeat(120)}`]);
  for (const h of list) {
    assert.equal(h.mtime, 0);
    assert.equal(h.uname, '');
    assert.equal(h.gname, '');
  }
  assert.deepEqual(list.find((h) => h.name === 'b/link'), { name: 'b/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, uname: '', gname: '', mtime: 0, linkname: '../b-file', size: 0 });
  assert.equal(list.find((h) => h.name === 'b/hard')!.type, 'link');
  assert.equal(list.find((h) => h.name === 'a/empty')!.uid, 1000);
  assert.equal(list.find((h) => h.name === 'b-file')!.size, 10_000);
});

test('the same entries give the same bytes whatever order they come in', async () => {
  const one = await collectBytes(writeTar(entries(), new Date(0)));
  const two = await collectBytes(writeTar(entries().reverse(), new Date(0)));
  assert.equal(createHash('sha256').update(one).digest('hex'), createHash('sha256').update(two).digest('hex'));
  const later = await collectBytes(writeTar(entries(), new Date(1_700_000_000_000)));
  assert.notDeepEqual(later, one);
});

test('duplicate paths are refused', () => {
  const dup: LayerEntry[] = [{ path: 'x', type: 'directory', mode: 0o755, uid: 0, gid: 0 }, { path: 'x', type: 'directory', mode: 0o755, uid: 0, gid: 0 }];
  assert.throws(() => writeTar(dup, new Date(0)), /duplicate layer entry x/);
});

test('a file that shrank after it was listed fails the tar instead of corrupting it', async () => {
  for (const size of [20_000, 1_000_000]) {
    const shrunk: LayerEntry[] = [
      { path: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10_000, source: join(dir, 'data') },
      { path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size, source: join(dir, 'data') },
    ];
    await assert.rejects(collectBytes(writeTar(shrunk, new Date(0))));
  }
});

test('many small files come out in order, each with its own bytes', async () => {
  const files: LayerEntry[] = [];
  for (let i = 0; i < 100; i++) {
    const name = `small-${String(i).padStart(3, '0')}`;
    await writeFile(join(dir, name), name.repeat(i + 1));
    files.push({ path: name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: name.length * (i + 1), source: join(dir, name) });
  }
  const bodies: string[] = [];
  const reader = extract();
  reader.on('entry', (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: unknown) => chunks.push(c as Buffer));
    body.on('end', () => {
      bodies.push(`${header.name}:${Buffer.concat(chunks).toString()}`);
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) => reader.on('finish', () => resolve()).on('error', reject));
  reader.end(await collectBytes(writeTar([...files].reverse(), new Date(0))));
  await done;
  assert.deepEqual(bodies, files.map((f, i) => `${f.path}:${f.path.repeat(i + 1)}`));
});

test('the tar key names every field the tar holds, and needs every non-empty file\'s digest', () => {
  const digest = `sha256:${'a'.repeat(64)}` as const;
  const named = (): LayerEntry[] => entries().map((e) => (e.type === 'file' && e.size !== 0 ? { ...e, digest } : e));
  const key = tarKey(named(), new Date(0));
  assert.match(key ?? '', /^sha256:[0-9a-f]{64}$/);
  assert.equal(tarKey(named().reverse(), new Date(0)), key, 'order of the entries does not matter');
  assert.equal(tarKey(entries(), new Date(0)), undefined, 'a file without a digest');
  const variants: [string, (e: LayerEntry[]) => void][] = [
    ['path', (e) => (e[0]!.path = 'c-file')],
    ['mode', (e) => (e[0]!.mode = 0o700)],
    ['uid', (e) => (e[0]!.uid = 1)],
    ['gid', (e) => (e[0]!.gid = 1)],
    ['size', (e) => (e[0]!.size = 10_001)],
    ['digest', (e) => (e[0]!.digest = `sha256:${'b'.repeat(64)}`)],
    ['symlink target', (e) => (e[2]!.linkname = '../a')],
    ['type', (e) => (e[3]!.type = 'symlink')],
    ['inline content', (e) => e.push({ path: 'z', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, content: Buffer.from('y') })],
  ];
  const seen = new Set([key]);
  for (const [what, change] of variants) {
    const changed = named();
    change(changed);
    const other = tarKey(changed, new Date(0));
    assert.ok(other !== undefined && !seen.has(other), `a change of ${what} changes the key`);
    seen.add(other);
  }
  assert.notEqual(tarKey(named(), new Date(1000)), key, 'the mtime is in the key');
});

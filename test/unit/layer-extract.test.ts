import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pack as tarPack, type Header } from 'tar-stream';
import { extractTar, type ExtractSummary } from '../../src/layer/extract.js';
import { UserError } from '../../src/util/errors.js';

type EntrySpec = Partial<Header> & { name: string; body?: string | Buffer };

const MTIME = new Date('2021-03-04T05:06:07Z');

async function tarOf(entries: EntrySpec[]): Promise<Buffer> {
  const pack = tarPack();
  for (const { body, ...header } of entries) {
    // A file entry without a body would wait for one; other types must not have one.
    if (header.type === undefined || header.type === 'file') pack.entry({ mtime: MTIME, ...header }, body ?? '');
    else pack.entry({ mtime: MTIME, ...header });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function extract(tar: Buffer, dest: string, whiteouts = false): Promise<ExtractSummary> {
  return extractTar(Readable.from([tar]), dest, { whiteouts, label: 'test' });
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch {
    return false;
  }
}

/** rm -rf that also copes with read-only directories left by an extraction (non-root runs). */
async function removeAll(dir: string): Promise<void> {
  const grant = async (file: string): Promise<void> => {
    const stats = await lstat(file);
    if (!stats.isDirectory()) return;
    await chmod(file, 0o700);
    for (const name of await readdir(file)) await grant(path.join(file, name));
  };
  if (await exists(dir)) await grant(dir);
  await rm(dir, { recursive: true, force: true });
}

const isRoot = process.getuid?.() === 0;

describe('extractTar', () => {
  let root: string;
  let counter = 0;
  /** A fresh destination inside `root`, with an `outside` sibling that must never be touched. */
  let dest: string;
  let outside: string;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'sealbuild-extract-'));
  });
  after(async () => {
    await removeAll(root);
  });

  async function fresh(): Promise<void> {
    counter++;
    dest = path.join(root, `dest${counter}`);
    outside = path.join(root, `outside${counter}`);
    await mkdir(dest);
    await mkdir(outside);
    await writeFile(path.join(outside, 'secret'), 'TOP SECRET');
  }

  async function assertOutsideUntouched(): Promise<void> {
    assert.deepEqual(await readdir(outside), ['secret']);
    assert.equal(await readFile(path.join(outside, 'secret'), 'utf8'), 'TOP SECRET');
    assert.deepEqual((await readdir(root)).filter((name) => !/^(dest|outside)\d+$/.test(name)), []);
  }

  it('round-trips files, directories, symlinks and hardlinks with modes and mtimes', async () => {
    await fresh();
    const dirTime = new Date('2020-01-02T03:04:05Z');
    const summary = await extract(
      await tarOf([
        { name: './', type: 'directory', mode: 0o700 },
        { name: './app/', type: 'directory', mode: 0o750, mtime: dirTime, uid: 1000, gid: 1001 },
        { name: './app/config.yaml', mode: 0o640, body: 'key: value\n', uid: 1000, gid: 1001 },
        { name: './app/run.sh', mode: 0o4755, body: '#!/bin/sh\n' },
        { name: './app/current', type: 'symlink', linkname: 'config.yaml' },
        { name: './app/hard', type: 'link', linkname: './app/config.yaml' },
        { name: './app/anywhere', type: 'symlink', linkname: '/etc/passwd' },
        { name: './tmp/', type: 'directory', mode: 0o1777 },
        { name: './empty', body: '' },
      ]),
      dest,
    );
    assert.deepEqual(summary, { entries: 9, skipped: [] });

    // The root entry describes destDir itself, which is the caller's: left alone.
    assert.notEqual((await stat(dest)).mode & 0o777, 0o700);

    const app = await stat(path.join(dest, 'app'));
    assert.ok(app.isDirectory());
    assert.equal(app.mode & 0o7777, 0o750);
    // Applied after the directory's contents were written, so it survives them.
    assert.equal(app.mtime.getTime(), dirTime.getTime());

    const config = await stat(path.join(dest, 'app/config.yaml'));
    assert.equal(await readFile(path.join(dest, 'app/config.yaml'), 'utf8'), 'key: value\n');
    assert.equal(config.mode & 0o7777, 0o640);
    assert.equal(config.mtime.getTime(), MTIME.getTime());
    if (isRoot) {
      assert.equal(config.uid, 1000);
      assert.equal(config.gid, 1001);
      assert.equal(app.uid, 1000);
    }

    // setuid dropped, the rest kept.
    assert.equal((await stat(path.join(dest, 'app/run.sh'))).mode & 0o7777, 0o755);
    // The sticky bit is kept.
    assert.equal((await stat(path.join(dest, 'tmp'))).mode & 0o7777, 0o1777);

    assert.equal(await readlink(path.join(dest, 'app/current')), 'config.yaml');
    assert.equal((await lstat(path.join(dest, 'app/current'))).mtime.getTime(), MTIME.getTime());
    assert.equal(await readlink(path.join(dest, 'app/anywhere')), '/etc/passwd');

    const hard = await stat(path.join(dest, 'app/hard'));
    assert.equal(hard.ino, config.ino);
    assert.equal(hard.nlink, 2);

    assert.equal((await stat(path.join(dest, 'empty'))).size, 0);
  });

  it('creates missing parents as 0755 directories', async () => {
    await fresh();
    await extract(await tarOf([{ name: 'a/b/c.txt', body: 'c' }]), dest);
    assert.equal((await stat(path.join(dest, 'a'))).mode & 0o7777, 0o755);
    assert.equal((await stat(path.join(dest, 'a/b'))).mode & 0o7777, 0o755);
    assert.equal(await readFile(path.join(dest, 'a/b/c.txt'), 'utf8'), 'c');
  });

  for (const name of ['../../x', 'a/../../x', '..', '/../x']) {
    it(`rejects the escaping name ${JSON.stringify(name)}`, async () => {
      await fresh();
      await assert.rejects(extract(await tarOf([{ name, body: 'x' }]), dest), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.equal(err.message, `test: entry ${JSON.stringify(name)} escapes the target directory`);
        return true;
      });
      await assertOutsideUntouched();
      assert.equal(await exists(path.join(root, 'x')), false);
      assert.equal(await exists(path.join(os.tmpdir(), 'x')), false);
    });
  }

  it('keeps absolute and dot-dot names that stay inside under destDir', async () => {
    await fresh();
    await extract(
      await tarOf([
        { name: '/etc/x', body: 'abs' },
        { name: 'a/../b', body: 'b' },
        { name: '//./c/./d', body: 'd' },
      ]),
      dest,
    );
    assert.equal(await readFile(path.join(dest, 'etc/x'), 'utf8'), 'abs');
    assert.equal(await readFile(path.join(dest, 'b'), 'utf8'), 'b');
    assert.equal(await readFile(path.join(dest, 'c/d'), 'utf8'), 'd');
  });

  it('refuses to write through a symlinked parent', async () => {
    await fresh();
    await assert.rejects(
      extract(
        await tarOf([
          { name: 'evil', type: 'symlink', linkname: outside },
          { name: 'evil/pwned', body: 'pwned' },
        ]),
        dest,
      ),
      (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.equal(err.message, 'test: entry "evil/pwned": parent "evil" is a symlink; refusing to go through it');
        return true;
      },
    );
    await assertOutsideUntouched();
  });

  it('refuses symlinked parents for directories, symlinks and deeper paths', async () => {
    for (const second of [
      { name: 'evil/sub/', type: 'directory' as const },
      { name: 'evil/link', type: 'symlink' as const, linkname: 'x' },
      { name: 'evil/a/b/c', body: 'c' },
    ]) {
      await fresh();
      await assert.rejects(
        extract(await tarOf([{ name: 'evil', type: 'symlink', linkname: outside }, second]), dest),
        /parent "evil" is a symlink/,
      );
      await assertOutsideUntouched();
    }
  });

  it('replaces a symlink from a lower layer by a real directory instead of following it', async () => {
    await fresh();
    await extract(await tarOf([{ name: 's', type: 'symlink', linkname: outside }]), dest);
    await extract(
      await tarOf([
        { name: 's/', type: 'directory' },
        { name: 's/file', body: 'inside' },
        { name: 'secret', type: 'symlink', linkname: path.join(outside, 'secret') },
        { name: 'secret', body: 'replaced' },
      ]),
      dest,
    );
    assert.ok((await lstat(path.join(dest, 's'))).isDirectory());
    assert.equal(await readFile(path.join(dest, 's/file'), 'utf8'), 'inside');
    assert.ok((await lstat(path.join(dest, 'secret'))).isFile());
    await assertOutsideUntouched();
  });

  it('rejects a hardlink whose target escapes', async () => {
    await fresh();
    await assert.rejects(
      extract(await tarOf([{ name: 'hl', type: 'link', linkname: `../outside${counter}/secret` }]), dest),
      (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, /^test: entry "hl": link target ".*" escapes the target directory$/);
        return true;
      },
    );
    assert.equal(await exists(path.join(dest, 'hl')), false);
    await assertOutsideUntouched();
  });

  it('rejects a hardlink to a symlink, so an outside file is never exposed', async () => {
    await fresh();
    await assert.rejects(
      extract(
        await tarOf([
          { name: 'sl', type: 'symlink', linkname: path.join(outside, 'secret') },
          { name: 'hl', type: 'link', linkname: 'sl' },
        ]),
        dest,
      ),
      /entry "hl": link target "sl" is not a regular file/,
    );
    assert.equal(await exists(path.join(dest, 'hl')), false);
    await assertOutsideUntouched();
  });

  it('rejects a hardlink through a symlinked directory', async () => {
    await fresh();
    await assert.rejects(
      extract(
        await tarOf([
          { name: 'evil', type: 'symlink', linkname: outside },
          { name: 'hl', type: 'link', linkname: 'evil/secret' },
        ]),
        dest,
      ),
      /entry "hl": link target parent "evil" is a symlink/,
    );
    assert.equal(await exists(path.join(dest, 'hl')), false);
    await assertOutsideUntouched();
  });

  it('rejects a hardlink to a missing target', async () => {
    await fresh();
    await assert.rejects(
      extract(await tarOf([{ name: 'hl', type: 'link', linkname: 'nope/nothing' }]), dest),
      /entry "hl": link target "nope\/nothing" is not a regular file/,
    );
  });

  it('skips devices and FIFOs and reports them', async () => {
    await fresh();
    const summary = await extract(
      await tarOf([
        { name: 'dev/', type: 'directory' },
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
        { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 },
        { name: 'dev/pipe', type: 'fifo' },
        { name: 'dev/after', body: 'still extracted' },
      ]),
      dest,
    );
    assert.equal(summary.entries, 5);
    assert.deepEqual(summary.skipped, [
      { name: 'dev/null', type: 'character-device' },
      { name: 'dev/sda', type: 'block-device' },
      { name: 'dev/pipe', type: 'fifo' },
    ]);
    assert.deepEqual((await readdir(path.join(dest, 'dev'))).sort(), ['after']);
  });

  it('applies whiteouts and opaque directories of an upper layer', async () => {
    await fresh();
    await extract(
      await tarOf([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/a', body: 'a' },
        { name: 'etc/b', body: 'b' },
        { name: 'etc/gone/', type: 'directory' },
        { name: 'etc/gone/deep', body: 'deep' },
        { name: 'opt/', type: 'directory' },
        { name: 'opt/lower', body: 'lower' },
        { name: 'opt/x/', type: 'directory' },
        { name: 'opt/x/lower', body: 'lower' },
        { name: 'opt/y/', type: 'directory' },
        { name: 'var/keep', body: 'keep' },
      ]),
      dest,
      true,
    );
    const summary = await extract(
      await tarOf([
        { name: 'etc/.wh.a', body: '' },
        { name: 'etc/.wh.gone', body: '' },
        { name: 'etc/.wh.never-existed', body: '' },
        { name: 'nodir/.wh.file', body: '' },
        { name: 'opt/', type: 'directory' },
        // Written before the marker, in a directory that a lower layer also has.
        { name: 'opt/x/upper', body: 'upper' },
        { name: 'opt/early', body: 'early' },
        { name: 'opt/.wh..wh..opq', body: '' },
        { name: 'opt/late', body: 'late' },
      ]),
      dest,
      true,
    );
    assert.equal(summary.entries, 9);

    assert.deepEqual((await readdir(path.join(dest, 'etc'))).sort(), ['b']);
    assert.deepEqual((await readdir(path.join(dest, 'opt'))).sort(), ['early', 'late', 'x']);
    assert.deepEqual(await readdir(path.join(dest, 'opt/x')), ['upper']);
    assert.equal(await readFile(path.join(dest, 'var/keep'), 'utf8'), 'keep');
    // A whiteout under a missing directory hides nothing and creates nothing.
    assert.equal(await exists(path.join(dest, 'nodir')), false);
  });

  it('applies an opaque marker at the root and one that comes before its directory entries', async () => {
    await fresh();
    await extract(await tarOf([{ name: 'old', body: 'old' }, { name: 'keep/x', body: 'x' }]), dest, true);
    await extract(
      await tarOf([
        { name: '.wh..wh..opq', body: '' },
        { name: 'keep/', type: 'directory' },
        { name: 'new', body: 'new' },
      ]),
      dest,
      true,
    );
    assert.deepEqual((await readdir(dest)).sort(), ['keep', 'new']);
    assert.deepEqual(await readdir(path.join(dest, 'keep')), []);
  });

  it('refuses whiteouts through a symlinked parent and invalid whiteout names', async () => {
    await fresh();
    await assert.rejects(
      extract(
        await tarOf([
          { name: 'evil', type: 'symlink', linkname: outside },
          { name: 'evil/.wh.secret', body: '' },
        ]),
        dest,
        true,
      ),
      /parent "evil" is a symlink/,
    );
    await assert.rejects(
      extract(
        await tarOf([
          { name: 'evil', type: 'symlink', linkname: outside },
          { name: 'evil/.wh..wh..opq', body: '' },
        ]),
        dest,
        true,
      ),
      /parent "evil" is a symlink/,
    );
    await assertOutsideUntouched();

    await mkdir(path.join(dest, 'sub'));
    await writeFile(path.join(dest, 'sub/file'), 'file');
    await assert.rejects(extract(await tarOf([{ name: 'sub/.wh..', body: '' }]), dest, true), /invalid whiteout name/);
    assert.equal(await readFile(path.join(dest, 'sub/file'), 'utf8'), 'file');
  });

  it('extracts .wh. names as ordinary files when whiteouts are off', async () => {
    await fresh();
    await writeFile(path.join(dest, 'a'), 'a');
    await extract(
      await tarOf([
        { name: '.wh.a', body: 'not a whiteout' },
        { name: '.wh..wh..opq', body: '' },
      ]),
      dest,
    );
    assert.deepEqual((await readdir(dest)).sort(), ['.wh..wh..opq', '.wh.a', 'a']);
    assert.equal(await readFile(path.join(dest, '.wh.a'), 'utf8'), 'not a whiteout');
  });

  it('replaces a directory by a file, and keeps contents when a directory lands on one', async () => {
    await fresh();
    await extract(
      await tarOf([
        { name: 'd/', type: 'directory' },
        { name: 'd/inner/', type: 'directory' },
        { name: 'd/inner/file', body: 'x' },
        { name: 'keep/', type: 'directory', mode: 0o755 },
        { name: 'keep/file', body: 'kept' },
        { name: 'f', body: 'file' },
      ]),
      dest,
    );
    await extract(
      await tarOf([
        { name: 'd', body: 'now a file' },
        { name: 'keep/', type: 'directory', mode: 0o700 },
        { name: 'f/', type: 'directory' },
        { name: 'f/child', body: 'child' },
      ]),
      dest,
    );
    assert.equal(await readFile(path.join(dest, 'd'), 'utf8'), 'now a file');
    assert.equal(await readFile(path.join(dest, 'keep/file'), 'utf8'), 'kept');
    assert.equal((await stat(path.join(dest, 'keep'))).mode & 0o7777, 0o700);
    assert.equal(await readFile(path.join(dest, 'f/child'), 'utf8'), 'child');
  });

  it('later entries replace earlier ones, and hardlinked files are not written through', async () => {
    await fresh();
    await extract(
      await tarOf([
        { name: 'a', body: 'first' },
        { name: 'b', type: 'link', linkname: 'a' },
        { name: 'b', body: 'second' },
      ]),
      dest,
    );
    assert.equal(await readFile(path.join(dest, 'a'), 'utf8'), 'first');
    assert.equal(await readFile(path.join(dest, 'b'), 'utf8'), 'second');
  });

  it('fills read-only directories and applies their mode at the end', async () => {
    await fresh();
    await extract(
      await tarOf([
        { name: 'ro/', type: 'directory', mode: 0o555 },
        { name: 'ro/sub/', type: 'directory', mode: 0o555 },
        { name: 'ro/sub/file', mode: 0o444, body: 'read only' },
      ]),
      dest,
    );
    assert.equal((await stat(path.join(dest, 'ro'))).mode & 0o7777, 0o555);
    assert.equal((await stat(path.join(dest, 'ro/sub'))).mode & 0o7777, 0o555);
    // An upper layer adds to, and deletes from, the read-only directories, then replaces the tree.
    await extract(
      await tarOf([
        { name: 'ro/sub/more', body: 'more' },
        { name: 'ro/sub/.wh.file', body: '' },
      ]),
      dest,
      true,
    );
    assert.deepEqual(await readdir(path.join(dest, 'ro/sub')), ['more']);
    assert.equal((await stat(path.join(dest, 'ro/sub'))).mode & 0o7777, 0o555);
    await extract(await tarOf([{ name: 'ro', body: 'file now' }]), dest);
    assert.equal(await readFile(path.join(dest, 'ro'), 'utf8'), 'file now');
  });

  it('handles names longer than 100 characters (pax headers)', async () => {
    await fresh();
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}.txt`;
    const target = `${'t'.repeat(130)}`;
    await extract(
      await tarOf([
        { name: long, body: 'long' },
        { name: 'link', type: 'symlink', linkname: target },
        { name: 'hard', type: 'link', linkname: long },
      ]),
      dest,
    );
    assert.equal(await readFile(path.join(dest, long), 'utf8'), 'long');
    assert.equal(await readlink(path.join(dest, 'link')), target);
    assert.equal(await readFile(path.join(dest, 'hard'), 'utf8'), 'long');
  });

  it('streams large files', async () => {
    await fresh();
    const big = Buffer.alloc(8 * 1024 * 1024 + 123, 7);
    await extract(await tarOf([{ name: 'big.bin', body: big }]), dest);
    assert.ok((await readFile(path.join(dest, 'big.bin'))).equals(big));
  });

  it('reports a truncated archive with the label and the entry', async () => {
    await fresh();
    const tar = await tarOf([
      { name: 'ok', body: 'ok' },
      { name: 'cut.bin', body: Buffer.alloc(100_000, 1) },
    ]);
    await assert.rejects(extract(tar.subarray(0, 50_000), dest), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /^test: cannot extract the archive at entry "cut\.bin": /);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  });

  it('reports garbage input', async () => {
    await fresh();
    await assert.rejects(extract(Buffer.alloc(1024, 'x'), dest), /^UserError: test: cannot extract the archive before the first entry: /);
  });

  it('reports an error of the input stream with the label and keeps its hint', async () => {
    await fresh();
    const input = new Readable({
      read() {
        this.destroy(new UserError('xz -dc failed (exit code 1)', { hint: 'corrupt' }));
      },
    });
    await assert.rejects(extractTar(input, dest, { whiteouts: true, label: 'layer sha256:abc' }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.message, 'layer sha256:abc: xz -dc failed (exit code 1) (before the first entry)');
      assert.equal(err.hint, 'corrupt');
      return true;
    });
  });

  it('rejects replacing the target directory itself', async () => {
    await fresh();
    await assert.rejects(
      extract(await tarOf([{ name: './', type: 'symlink', linkname: '/' }]), dest),
      /entry "\.\/": cannot replace the target directory/,
    );
  });
});

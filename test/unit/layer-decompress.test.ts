import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { decompressStream, detectCompression, sniffArchive, type Compression } from '../../src/layer/decompress.js';
import { extractTar } from '../../src/layer/extract.js';
import { UserError } from '../../src/util/errors.js';

/** "hello from <tool>\n", compressed by the real tools, so decoding needs nothing but the decompressor. */
const FIXTURES = {
  xz: '/Td6WFoAAATm1rRGAgAhARYAAAB0L+WjAQANaGVsbG8gZnJvbSB4egoAAABb+Ybd5id65gABJg4IG+AEH7bzfQEAAAAABFla',
  bzip2: 'QlpoOTFBWSZTWVXpr+UAAAPZgAAQQAAQABNm0BAgACKaMmnpH6hAAA0q9CbgvywBYu5IpwoSCr01/KA=',
} as const;

const APT_PACKAGES = { xz: 'xz-utils', bzip2: 'bzip2' } as const;

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Decompresses, turning a UserError's hint (e.g. which apt package to install) into the failure message. */
async function decompress(data: Buffer, kind: Compression): Promise<Buffer> {
  try {
    return await collect(decompressStream(Readable.from([data]), kind));
  } catch (err) {
    if (err instanceof UserError && err.hint !== undefined) throw new Error(`${err.message} (${err.hint})`, { cause: err });
    throw err;
  }
}

/** Compresses with the system tool; a missing tool fails the test with the package to install. */
async function compressWith(tool: 'xz' | 'bzip2', data: Buffer): Promise<Buffer> {
  const child = spawn(tool, ['-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error(`${tool} is not installed: apt-get install ${APT_PACKAGES[tool]}`) : err),
    );
    child.on('close', resolve);
  });
  child.stdin.on('error', () => {}); // reported through `exited`
  child.stdin.end(data);
  const [output, code] = await Promise.all([collect(child.stdout), exited]);
  assert.equal(code, 0, `${tool} -c failed`);
  return output;
}

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tarPack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name }, body);
  pack.finalize();
  return collect(pack as unknown as Readable);
}

/** Deterministic, poorly compressible data, so the tools really stream several megabytes. */
function noise(size: number): Buffer {
  const data = Buffer.alloc(size);
  let x = 0x12345678;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  return data;
}

async function withPath<T>(value: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = value;
  try {
    return await fn();
  } finally {
    process.env.PATH = saved;
  }
}

describe('detectCompression', () => {
  it('recognises each magic number', () => {
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 0x08, 0x00])), 'gzip');
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x04])), 'zstd');
    assert.equal(detectCompression(Buffer.from('BZh91AY&SY')), 'bzip2');
    assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00])), 'xz');
    assert.equal(detectCompression(Buffer.from(FIXTURES.xz, 'base64')), 'xz');
    assert.equal(detectCompression(Buffer.from(FIXTURES.bzip2, 'base64')), 'bzip2');
  });

  it('says none for anything else', () => {
    assert.equal(detectCompression(Buffer.alloc(0)), 'none');
    assert.equal(detectCompression(Buffer.from([0x1f])), 'none');
    assert.equal(detectCompression(Buffer.from('BZh is how this text starts')), 'none');
    assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a])), 'none');
    assert.equal(detectCompression(Buffer.from('plain text')), 'none');
  });
});

describe('decompressStream', () => {
  it('passes uncompressed data through', async () => {
    assert.equal((await decompress(Buffer.from('as is'), 'none')).toString(), 'as is');
  });

  it('gunzips concatenated members', async () => {
    const data = Buffer.concat([gzipSync('hello '), gzipSync(''), gzipSync('world')]);
    assert.equal((await decompress(data, 'gzip')).toString(), 'hello world');
  });

  it('reports corrupt gzip data as a stream error', async () => {
    const corrupt = Buffer.concat([gzipSync('x'.repeat(1000)).subarray(0, 10), Buffer.alloc(100, 0xff)]);
    await assert.rejects(collect(decompressStream(Readable.from([corrupt]), 'gzip')));
  });

  for (const tool of ['xz', 'bzip2'] as const) {
    it(`decodes ${tool} with the system tool`, async () => {
      assert.equal((await decompress(Buffer.from(FIXTURES[tool], 'base64'), tool)).toString(), `hello from ${tool}\n`);
    });

    it(`round-trips several megabytes and concatenated streams through ${tool}`, async () => {
      const first = noise(3 * 1024 * 1024);
      const second = Buffer.from('and a second stream\n');
      const compressed = Buffer.concat([await compressWith(tool, first), await compressWith(tool, second)]);
      // Small chunks, to exercise the stdin side of the pipe as well.
      const chunks: Buffer[] = [];
      for (let i = 0; i < compressed.length; i += 10_000) chunks.push(compressed.subarray(i, i + 10_000));
      const output = await collect(decompressStream(Readable.from(chunks), tool));
      assert.ok(output.equals(Buffer.concat([first, second])));
    });

    it(`reports a ${tool} failure with its exit code`, async () => {
      const truncated = (await compressWith(tool, noise(100_000))).subarray(0, 5_000);
      await assert.rejects(collect(decompressStream(Readable.from([truncated]), tool)), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, new RegExp(`^${tool} -dc failed \\(exit code \\d+\\)`));
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    });
  }

  it('names the apt package when a tool is missing', async () => {
    await withPath(os.tmpdir(), async () => {
      await assert.rejects(collect(decompressStream(Readable.from([Buffer.from(FIXTURES.xz, 'base64')]), 'xz')), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.equal(err.message, 'cannot decompress xz data: "xz" is not installed');
        assert.equal(err.hint, 'install it, e.g. apt-get install xz-utils');
        return true;
      });
    });
  });
});

describe('sniffArchive', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sealbuild-sniff-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, data: Buffer | string): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, data);
    return file;
  }

  it('recognises a plain tar', async () => {
    const tar = await file('plain.tar', await tarOf({ 'a.txt': 'a' }));
    assert.deepEqual(await sniffArchive(tar), { compression: 'none', isTar: true });
  });

  it('recognises a v7 tar (no ustar magic) by its header checksum', async () => {
    const tar = await tarOf({ 'a.txt': 'a' });
    tar.fill(0, 257, 265); // magic and version
    tar.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += tar[i] ?? 0;
    tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    assert.deepEqual(await sniffArchive(await file('v7.tar', tar)), { compression: 'none', isTar: true });
  });

  it('recognises a .tar.gz after decompressing its first block', async () => {
    const tgz = await file('app.tar.gz', gzipSync(await tarOf({ 'a.txt': 'a'.repeat(100_000) })));
    assert.deepEqual(await sniffArchive(tgz), { compression: 'gzip', isTar: true });
  });

  it('recognises .tar.xz and .tar.bz2', async () => {
    const tar = await tarOf({ 'big.bin': noise(2 * 1024 * 1024).toString('latin1') });
    for (const tool of ['xz', 'bzip2'] as const) {
      const archive = await file(`app.tar.${tool}`, await compressWith(tool, tar));
      assert.deepEqual(await sniffArchive(archive), { compression: tool, isTar: true });
    }
  });

  it('says not a tar for gzip data that is not a tar', async () => {
    const gz = await file('notes.txt.gz', gzipSync('just some notes\n'.repeat(100)));
    assert.deepEqual(await sniffArchive(gz), { compression: 'gzip', isTar: false });
  });

  it('says not a tar for corrupt compressed data', async () => {
    const bad = await file('bad.gz', Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(600, 0x41)]));
    assert.deepEqual(await sniffArchive(bad), { compression: 'gzip', isTar: false });
  });

  it('says not a tar for text, short and empty files', async () => {
    assert.deepEqual(await sniffArchive(await file('readme.txt', 'hello\n'.repeat(200))), { compression: 'none', isTar: false });
    assert.deepEqual(await sniffArchive(await file('short', 'ustar')), { compression: 'none', isTar: false });
    assert.deepEqual(await sniffArchive(await file('empty', '')), { compression: 'none', isTar: false });
    // An all-zero block (an empty tar) is not an archive for Docker either.
    assert.deepEqual(await sniffArchive(await file('zeros.tar', Buffer.alloc(1024))), { compression: 'none', isTar: false });
  });

  it('fails, rather than copying the file, when the decompressor is missing', async () => {
    const archive = await file('needs-xz.tar.xz', Buffer.from(FIXTURES.xz, 'base64'));
    await withPath(os.tmpdir(), async () => {
      await assert.rejects(sniffArchive(archive), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(err.hint ?? '', /apt-get install xz-utils/);
        return true;
      });
    });
  });

  it('feeds extractTar: a .tar.gz from disk', async () => {
    const archive = await file('feed.tar.gz', gzipSync(await tarOf({ 'x/y.txt': 'y' })));
    const dest = path.join(dir, 'feed');
    await mkdir(dest);
    const { compression } = await sniffArchive(archive);
    const summary = await extractTar(decompressStream(createReadStream(archive), compression), dest, {
      whiteouts: false,
      label: 'ADD feed.tar.gz',
    });
    assert.equal(summary.entries, 1);
    assert.equal(await readFile(path.join(dest, 'x/y.txt'), 'utf8'), 'y');
  });

  it('feeds extractTar: a decompressor failure names the label', async () => {
    const compressed = await compressWith('xz', await tarOf({ 'a.bin': noise(200_000).toString('latin1') }));
    const archive = await file('broken.tar.xz', compressed.subarray(0, 20_000));
    const dest = path.join(dir, 'broken');
    await mkdir(dest);
    await assert.rejects(
      extractTar(decompressStream(createReadStream(archive), 'xz'), dest, { whiteouts: true, label: 'layer sha256:beef' }),
      (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, /^layer sha256:beef: /);
        return true;
      },
    );
  });
});

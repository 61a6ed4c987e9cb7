import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { GzipPool } from '../../src/layer/gzip-pool.js';
import { GZIP_CHUNK_SIZE, fixedChunks, parallelGzip } from '../../src/layer/gzip-parallel.js';
import { zstdToFile } from '../../src/layer/zstd.js';
import { removeDir, run, tempDir, tool } from '../helpers/cli.js';

let dir: string;
before(async () => {
  tool('gzip', 'gzip');
  tool('zstd', 'zstd');
  dir = await tempDir();
});
after(() => removeDir(dir));

/** Half random, half repetitive: compresses, but not to nothing. */
function sample(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0; off < size; off += 8192) {
    randomBytes(4096).copy(out, off);
    out.fill(`line ${off}\n`, Math.min(off + 4096, size), Math.min(off + 8192, size));
  }
  return out;
}

/** Feeds `data` in awkward piece sizes, so chunking never lines up with the input. */
function pieces(data: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let off = 0, step = 1; off < data.length; off += step, step = 1 + ((step * 7 + 3) % 65_536)) parts.push(data.subarray(off, off + step));
  return Readable.from(parts);
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(chunk);
  return Buffer.concat(out);
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('fixedChunks', () => {
  test('cuts at exact byte counts whatever the input pieces', async () => {
    const data = sample(10_000);
    const chunks: Buffer[] = [];
    // Copied out: a yielded chunk is the consumer's, and here it is not reused.
    for await (const chunk of fixedChunks(pieces(data), () => Buffer.allocUnsafeSlow(4096))) chunks.push(chunk);
    assert.deepEqual(chunks.map((c) => c.length), [4096, 4096, 1808]);
    assert.ok(Buffer.concat(chunks).equals(data));
    assert.deepEqual(await collect(fixedChunks(Readable.from([]), () => Buffer.allocUnsafeSlow(4096))), Buffer.alloc(0));
  });
});

describe('parallel gzip', () => {
  const pool = new GzipPool(3);

  for (const size of [0, 1, 4095, 4096, 4097, 3 * 4096 + 5, 100_000]) {
    test(`${size} bytes in 4 KiB chunks decompress to exactly the input`, async () => {
      const data = sample(size);
      const gz = await collect(parallelGzip(pieces(data), { pool, chunkSize: 4096 }));
      assert.equal(gz[0], 0x1f, 'gzip magic');
      assert.equal(sha256(gunzipSync(gz)), sha256(data));
    });
  }

  test('one member per chunk, and gzip -t accepts the multi-member stream', async () => {
    const data = sample(5 * 4096 + 17);
    const gz = await collect(parallelGzip(pieces(data), { pool, chunkSize: 4096 }));
    const members = countMembers(gz);
    assert.equal(members, 6);
    const file = join(dir, 'multi.gz');
    await writeFile(file, gz);
    run('gzip', ['-t', file]);
    assert.equal(sha256(Buffer.from(run('sh', ['-c', `gzip -dc ${file} | base64 -w0`]), 'base64')), sha256(data));
  });

  test('the same input gives the same bytes with 1 worker and with 4', async () => {
    const data = sample(3 * GZIP_CHUNK_SIZE + 12_345);
    const one = await collect(parallelGzip(pieces(data), { pool: new GzipPool(1) }));
    const four = await collect(parallelGzip(pieces(data), { pool: new GzipPool(4) }));
    assert.equal(sha256(one), sha256(four));
    assert.equal(countMembers(one), 4);
    assert.equal(sha256(gunzipSync(one)), sha256(data));
  });

  test('an input error ends the output with that error', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield sample(10_000);
      throw new Error('file changed while reading');
    }
    await assert.rejects(collect(parallelGzip(failing(), { pool, chunkSize: 4096 })), /file changed while reading/);
  });
});

/** zstdToFile into a new file `name`; checks that the digest and size it returns are the file's. */
async function zstdFile(input: Readable, threads: number, name: string): Promise<Buffer> {
  const file = join(dir, name);
  const out = await open(file, 'wx+');
  try {
    const blob = await zstdToFile(input, out, threads);
    const written = await readFile(file);
    assert.deepEqual(blob, { digest: `sha256:${sha256(written)}`, size: written.length });
    return written;
  } finally {
    await out.close();
  }
}

describe('zstd', () => {
  test('round-trips, and the frame is the same for 1 and 4 threads', async () => {
    const data = sample(3 * 1024 * 1024 + 7);
    const one = await zstdFile(pieces(data), 1, 'one.zst');
    const four = await zstdFile(pieces(data), 4, 'four.zst');
    assert.equal(sha256(one), sha256(four));
    run('zstd', ['-q', '-d', '-f', join(dir, 'one.zst'), '-o', join(dir, 'layer')]);
    assert.equal(sha256(await readFile(join(dir, 'layer'))), sha256(data));
  });

  test('the digest is right when the input trickles in and the file is read back while it grows', async () => {
    const data = sample(24 * 1024 * 1024);
    async function* slowly(): AsyncGenerator<Buffer> {
      for (let off = 0; off < data.length; off += 1024 * 1024) {
        yield data.subarray(off, off + 1024 * 1024);
        await sleep(30);
      }
    }
    const zst = await zstdFile(Readable.from(slowly()), 2, 'slow.zst');
    run('zstd', ['-q', '-d', '-f', join(dir, 'slow.zst'), '-o', join(dir, 'slow')]);
    assert.equal(sha256(await readFile(join(dir, 'slow'))), sha256(data));
    assert.ok(zst.length > 0);
  });

  test('empty input is a valid empty frame', async () => {
    await zstdFile(Readable.from([]), 2, 'empty.zst');
    run('zstd', ['-q', '-t', join(dir, 'empty.zst')]);
  });

  test('an input error rejects with that error', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield sample(100_000);
      throw new Error('file changed while reading');
    }
    const out = await open(join(dir, 'failing.zst'), 'wx+');
    try {
      await assert.rejects(zstdToFile(Readable.from(failing()), out, 2), /file changed while reading/);
    } finally {
      await out.close();
    }
  });
});

/**
 * Counts gzip members by walking them: our members have the plain 10-byte header (no name,
 * no extra fields), then raw deflate (inflateRaw stops at its end and reports what it
 * consumed), then the 8-byte CRC and size trailer.
 */
function countMembers(gz: Buffer): number {
  let count = 0;
  let offset = 0;
  while (offset < gz.length) {
    assert.deepEqual([...gz.subarray(offset, offset + 4)], [0x1f, 0x8b, 8, 0], `plain gzip header at ${offset}`);
    const { engine } = inflateRawSync(gz.subarray(offset + 10), { info: true }) as unknown as { engine: { bytesWritten: number } };
    offset += 10 + engine.bytesWritten + 8;
    count += 1;
  }
  assert.equal(offset, gz.length);
  return count;
}

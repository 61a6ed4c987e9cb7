import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parallelGzip } from '../../src/layer/gzip-parallel.js';
import { HashingStream } from '../../src/oci/digest.js';
import { openLayer } from '../../src/layer/layer-reader.js';
import { sharedByteThreads } from '../../src/util/byte-threads.js';
import { ThreadedHash } from '../../src/util/hash-threads.js';

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

// Hashing moved to hash threads (#16): digests must stay those of createHash, whatever the
// chunking, including chunks larger than every stage in flight together (the update that waits).
test('a threaded hash gives the digest of the same bytes hashed in one go, for any chunking', async () => {
  const data = randomBytes(11 * 1024 * 1024 + 123);
  for (const sizes of [[1, 300_000], [7, 65536, 1024 * 1024], [6 * 1024 * 1024], [data.length]]) {
    const hash = new ThreadedHash();
    for (let offset = 0, i = 0; offset < data.length; i++) {
      const size = Math.min(sizes[i % sizes.length]!, data.length - offset, 1024 * 1024 * 8);
      const piece = data.subarray(offset, offset + size);
      offset += size;
      await hash.update(piece);
    }
    assert.equal(await hash.digest(), sha256(data), `chunks of ${sizes.join(', ')}`);
    assert.equal(hash.size, data.length);
  }
});

test('digest() covers a chunk whose copy still waits for a stage (a stream ended before its last update settled)', async () => {
  // 6 MiB at once: four stages go out and the rest waits for one to come back.
  const data = randomBytes(6 * 1024 * 1024 + 5);
  const hash = new ThreadedHash();
  const copying = hash.update(data);
  assert.ok(copying !== undefined, 'the update waits for a stage');
  assert.equal(await hash.digest(), sha256(data));
  await copying;
});

test('a copy is hashed, not the caller\'s buffer (once update settles), and small inputs hash alike', async () => {
  const data = randomBytes(6 * 1024 * 1024);
  const expected = sha256(data);
  const hash = new ThreadedHash();
  const copy = Buffer.from(data);
  await hash.update(copy);
  copy.fill(0);
  assert.equal(await hash.digest(), expected);
  for (const size of [0, 1, 16 * 1024, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1]) {
    const bytes = randomBytes(size);
    const small = new ThreadedHash();
    await small.update(bytes);
    assert.equal(await small.digest(), sha256(bytes), `${size} bytes`);
  }
});

test('HashingStream passes every byte through and knows the digest when the stream ends, on a hash thread or here', async () => {
  const data = randomBytes(5 * 1024 * 1024 + 7);
  for (const place of ['thread', 'here'] as const) {
    const hasher = new HashingStream(place);
    const out: Buffer[] = [];
    const pieces = [data.subarray(0, 100), data.subarray(100, 3 * 1024 * 1024), data.subarray(3 * 1024 * 1024)];
    await pipeline(Readable.from(pieces), hasher, new Writable({ write: (chunk: Buffer, _e, done) => (out.push(chunk), done()) }));
    assert.deepEqual(Buffer.concat(out), data, place);
    assert.equal(hasher.digest(), sha256(data), place);
    assert.equal(hasher.size, data.length, place);
  }
});

// Hashes and gzip jobs share one set of threads (util/byte-threads.ts): interleaved on the same
// threads, each must still get its own answers.
test('hashes and gzip jobs at once on the shared threads each get their own result', async () => {
  const data = randomBytes(5 * 1024 * 1024 + 99);
  const hashes = [0, 1, 2].map(async () => {
    const hash = new ThreadedHash();
    for (let offset = 0; offset < data.length; offset += 300_000) await hash.update(data.subarray(offset, offset + 300_000));
    return hash.digest();
  });
  const gzip = (async () => {
    const members: Buffer[] = [];
    for await (const member of parallelGzip(Readable.from([data]))) members.push(member);
    return Buffer.concat(members);
  })();
  for (const digest of await Promise.all(hashes)) assert.equal(digest, sha256(data));
  assert.equal(sha256(gunzipSync(await gzip)), sha256(data));
});

/** The hashes the shared threads hold state for (ByteThreads' handlers, private): a hash no one finishes or abandons stays there. */
function registeredHashes(): number {
  const slots = (sharedByteThreads() as unknown as { slots: ({ handlers: Map<number, unknown> } | undefined)[] }).slots;
  return slots.reduce((n, slot) => n + (slot?.handlers.size ?? 0), 0);
}

// A thread that dies (out of memory, say) fails only what it held: an update() after that must
// reject, since a throw from inside a stream's write escapes into an fs or zlib callback.
test('after its thread died, a threaded hash rejects the next update instead of throwing', async () => {
  const hash = new ThreadedHash();
  await hash.update(randomBytes(2 * 1024 * 1024));
  const { slots } = sharedByteThreads() as unknown as { slots: ({ worker: Worker } | undefined)[] };
  await Promise.all(slots.filter((slot) => slot !== undefined).map((slot) => Promise.all([once(slot.worker, 'exit'), slot.worker.terminate()])));
  let returned: Promise<void> | undefined;
  assert.doesNotThrow(() => (returned = hash.update(Buffer.alloc(10))));
  await assert.rejects(returned!, /worker thread exited/);
  await assert.rejects(hash.digest(), /worker thread exited/);
});

test('a layer read stopped early gives its hash back to the thread', async () => {
  const blob = gzipSync(randomBytes(6 * 1024 * 1024), { level: 1 });
  const before = registeredHashes();
  for (let i = 0; i < 3; i++) {
    let read = 0;
    for await (const chunk of openLayer(Readable.from([blob]), { digest: `sha256:${'0'.repeat(64)}`, owner: 'test' }, 'gzip')) if ((read += (chunk as Buffer).length) > 3 * 1024 * 1024) break;
  }
  // The last read closes a tick after the loop left it.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(registeredHashes(), before);
});

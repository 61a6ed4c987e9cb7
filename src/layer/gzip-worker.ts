import { parentPort } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { GZIP_LEVEL } from './gzip-level.js';

/**
 * Worker side of GzipPool: each message is one chunk, answered with its gzip member and the
 * chunk's memory handed back for reuse. The options (GZIP_LEVEL, header mtime 0) are
 * the same on every thread, so a chunk gives the same bytes whichever worker compresses it.
 *
 * Memory: this thread allocates little JavaScript, so V8 rarely collects here and dead
 * ArrayBuffers would pile up to its external-memory limit (64 MB per thread). Hence nothing
 * large is left behind: the chunk goes back, and zlib writes the member into one output
 * buffer sized above deflate's worst case, which is handed over whole.
 */
parentPort!.on('message', (chunk: Uint8Array) => {
  const chunkSize = Math.max(chunk.byteLength + (chunk.byteLength >> 10) + 1024, 64 * 1024);
  const member = gzipSync(chunk, { chunkSize, level: GZIP_LEVEL });
  // Only hand over memory that is this member's alone: were it ever a view into the 8 KiB
  // small-buffer pool, transferring would detach the pool for the rest of this thread.
  const own = member.buffer.byteLength === chunkSize ? member : new Uint8Array(member);
  parentPort!.postMessage({ member: own, chunk }, [own.buffer as ArrayBuffer, chunk.buffer as ArrayBuffer]);
});

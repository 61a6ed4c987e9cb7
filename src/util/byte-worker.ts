import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import type { ThreadMessage } from './byte-threads.js';

/**
 * Worker side of util/byte-threads.ts. Messages carry an id and one of:
 * - `hash`: bytes to add to sha256 `id` (handed back for reuse once hashed), and/or its end,
 *   answered with the hex digest; `drop` forgets an unfinished one;
 * - `gzip`: a chunk, answered with its gzip member (header mtime 0, the level given, so a
 *   chunk gives the same bytes on every thread) and the chunk's memory handed back for reuse.
 *
 * Memory: this thread allocates little JavaScript, so V8 rarely collects here and dead
 * ArrayBuffers would pile up to its external-memory limit (64 MB per thread). Hence nothing
 * large is left behind: chunks and stages go back, and zlib writes a member into one output
 * buffer sized above deflate's worst case, which is handed over whole.
 */
const hashes = new Map<number, Hash>();

parentPort!.on('message', (message: ThreadMessage) => {
  const { id } = message;
  if (message.op === 'gzip') {
    const { chunk, level } = message;
    const chunkSize = Math.max(chunk.byteLength + (chunk.byteLength >> 10) + 1024, 64 * 1024);
    const member = gzipSync(chunk, { chunkSize, level });
    // Only hand over memory that is this member's alone: were it ever a view into the 8 KiB
    // small-buffer pool, transferring would detach the pool for the rest of this thread.
    const own = member.buffer.byteLength === chunkSize ? member : new Uint8Array(member);
    parentPort!.postMessage({ id, member: own, chunk, final: true }, [own.buffer as ArrayBuffer, chunk.buffer as ArrayBuffer]);
    return;
  }
  if (message.op === 'drop') {
    hashes.delete(id);
    return;
  }
  let hash = hashes.get(id);
  if (hash === undefined) hashes.set(id, (hash = createHash('sha256')));
  if (message.data !== undefined) {
    hash.update(message.data);
    parentPort!.postMessage({ id, data: message.data }, [message.data.buffer as ArrayBuffer]);
  }
  if (message.end) {
    hashes.delete(id);
    parentPort!.postMessage({ id, digest: hash.digest('hex'), final: true });
  }
});

import { gzipSync } from 'node:zlib';
import { GZIP_LEVEL } from './gzip-level.js';
import { sharedGzipPool, type GzipPool } from './gzip-pool.js';

/**
 * Bytes of tar per gzip member. Each member starts with an empty deflate window, so smaller
 * chunks compress a little worse (the first 32 KiB of each cannot refer back). 1 MiB cost
 * 0.24% in size against one gzip stream on the benchmark's binaries (256 KiB: 1%, 4 MiB:
 * 0.05%), keeps in-flight memory to a few MiB per core, and is large enough that messaging a
 * worker is noise next to compressing it.
 */
export const GZIP_CHUNK_SIZE = 1024 * 1024;

export interface ParallelGzipOptions {
  pool?: GzipPool;
  chunkSize?: number;
}

/**
 * gzip in the manner of pigz, on all cores: the input is cut into fixed-size chunks (by byte
 * count, never by worker count, so the output is the same bytes on any machine), each chunk
 * becomes an independent gzip member on a worker thread, and the members are emitted in
 * input order. Concatenated members are one valid gzip stream (RFC 1952 2.2; gzip, zlib,
 * Go's compress/gzip and containerd read them as one). At most two chunks per worker are in
 * flight: while they are, the input is not read, so memory stays bounded for any size.
 */
export async function* parallelGzip(source: AsyncIterable<Buffer>, options: ParallelGzipOptions = {}): AsyncGenerator<Buffer> {
  const pool = options.pool ?? sharedGzipPool();
  const chunkSize = options.chunkSize ?? GZIP_CHUNK_SIZE;
  const maxInFlight = 2 * pool.size;
  // Chunk memory comes back from the workers and is refilled: at most maxInFlight + 1 chunks
  // ever exist, and none is left for the garbage collector.
  const free: Buffer[] = [];
  const pending: Promise<Buffer>[] = [];
  let chunks = 0;
  for await (const chunk of fixedChunks(source, () => free.pop() ?? Buffer.allocUnsafeSlow(chunkSize))) {
    chunks += 1;
    const member = pool.compress(chunk).then((result) => {
      free.push(result.chunk);
      return result.member;
    });
    // Awaited in order below; until then a failure must not count as an unhandled rejection.
    member.catch(() => {});
    pending.push(member);
    if (pending.length >= maxInFlight) yield await pending.shift()!;
  }
  // An empty input is still one (empty) member: a zero-byte file is not valid gzip.
  if (chunks === 0) yield gzipSync(Buffer.alloc(0), { level: GZIP_LEVEL });
  while (pending.length > 0) yield await pending.shift()!;
}

/**
 * Re-cuts a stream of arbitrary pieces into buffers from `allocate`, each filled completely
 * (the last one possibly not; none when the input is empty). A yielded buffer belongs to the
 * consumer: it is never written again here.
 */
export async function* fixedChunks(source: AsyncIterable<Buffer>, allocate: () => Buffer): AsyncGenerator<Buffer> {
  let chunk: Buffer | undefined;
  let filled = 0;
  for await (const piece of source) {
    let offset = 0;
    while (offset < piece.length) {
      chunk ??= allocate();
      const copied = piece.copy(chunk, filled, offset);
      filled += copied;
      offset += copied;
      if (filled === chunk.length) {
        yield chunk;
        chunk = undefined;
        filled = 0;
      }
    }
  }
  if (chunk !== undefined) yield chunk.subarray(0, filled);
}

import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../oci/digest.js';
import { startTool } from './filter-process.js';

/**
 * 2 rather than the tool's default 3: on the 1 GiB bench context's tar it costs a third less
 * CPU (`zstd -T2`: 8.5-9.5 CPU-s against 12.4-14.1) for 1.1% more bytes (1.4% on the
 * fast-compressing workload), still 4-6% fewer than the gzip layers; the same trade as
 * gzip's level 5 (gzip-level.ts). Its 1 MiB window also halves what a reader needs to decode.
 */
export const ZSTD_LEVEL = 2;

/** Bytes read back from the blob file at once, into one reused buffer. */
const FOLLOW_CHUNK = 1024 * 1024;
/**
 * How long the reader waits for the tool to write more once it has caught up: zstd writes
 * 15-40 MB/s here, so a wait is worth a read of about 1 MiB, the buffer's size.
 */
const FOLLOW_WAIT_MS = 40;

/**
 * Compresses `input` with the `zstd` tool (Node 20's zlib has no zstd; zlib's zstd on Node 24
 * makes other bytes) on `threads` threads, into `out` (opened for reading too), and returns the blob's digest and size.
 * zstd writes the file itself: its output never passes through this process, which took
 * the socket reads, a copy to a hash thread and the file writes off the main thread. The
 * digest is taken by reading the file back while zstd writes it (from the page cache, into
 * one buffer), so it costs no wall time beyond the last chunk.
 *
 * The output is deterministic: zstd's multi-threaded streaming mode gives the same frame for
 * any `-T` of 1 or more (facebook/zstd #2238, #2327; only `--single-thread` differs), and
 * input always arrives on stdin, so the frame never depends on whether the tool could learn
 * the input's size. The explicit level and `-T` override ZSTD_CLEVEL and ZSTD_NBTHREADS.
 */
export async function zstdToFile(input: Readable, out: FileHandle, threads = availableParallelism()): Promise<{ digest: Digest; size: number }> {
  const tool = startTool(
    input,
    {
      command: 'zstd',
      args: [`-${ZSTD_LEVEL}`, `-T${threads}`, '-q', '-c', '-'],
      aptPackage: 'zstd',
      purpose: 'compress a layer with zstd',
      failureHint: 'check the zstd installation (zstd --version) and free disk space',
    },
    out.fd,
  );
  try {
    return await followDigest(out, tool.exited);
  } finally {
    tool.stop();
  }
}

/** sha256 and size of what a tool writes into `file`, read as it grows, complete once `exited` is. */
async function followDigest(file: FileHandle, exited: Promise<void>): Promise<{ digest: Digest; size: number }> {
  let done = false;
  let failure: Error | undefined;
  const finished = exited.then(
    () => {
      done = true;
    },
    (err: Error) => {
      failure = err;
    },
  );
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(FOLLOW_CHUNK);
  let size = 0;
  for (;;) {
    if (failure) throw failure;
    // Everything the tool wrote is in the file once it has exited: a read after that which
    // finds nothing new is the end.
    const last = done;
    const { bytesRead } = await file.read(buffer, 0, buffer.length, size);
    hash.update(buffer.subarray(0, bytesRead));
    size += bytesRead;
    // A full buffer: more may be there already. Otherwise the reader has caught up, and
    // reading again at once would follow the tool in many small reads.
    if (bytesRead === buffer.length) continue;
    if (last) {
      if (bytesRead === 0) break;
    } else await Promise.race([finished, sleep(FOLLOW_WAIT_MS)]);
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

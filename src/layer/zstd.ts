import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import { filterThrough } from './filter-process.js';

/** zstd's default level: several times faster than gzip -6 with a better ratio. */
export const ZSTD_LEVEL = 3;

/**
 * Compresses `input` with the `zstd` tool (Node 20's zlib has no zstd) as a streaming child
 * process on `threads` worker threads. The output is deterministic: zstd's multi-threaded
 * streaming mode gives the same frame for any `-T` of 1 or more (facebook/zstd #2238, #2327;
 * only `--single-thread` differs), and input always arrives on stdin, so the frame never
 * depends on whether the tool could learn the input's size. Explicit `-3` and `-T` override
 * ZSTD_CLEVEL and ZSTD_NBTHREADS from the environment.
 */
export function zstdCompress(input: Readable, threads = availableParallelism()): Readable {
  return filterThrough(input, {
    command: 'zstd',
    args: [`-${ZSTD_LEVEL}`, `-T${threads}`, '-q', '-c', '-'],
    aptPackage: 'zstd',
    purpose: 'compress a layer with zstd',
    failureHint: 'check the zstd installation (zstd --version) and free disk space',
  });
}

import { ByteThreads, sharedByteThreads } from '../util/byte-threads.js';
import { GZIP_LEVEL } from './gzip-level.js';

/** A compressed chunk, and the chunk's memory (its whole ArrayBuffer) handed back for reuse. */
export interface GzipResult {
  member: Buffer;
  chunk: Buffer;
}

interface Job {
  chunk: Buffer;
  resolve: (result: GzipResult) => void;
  reject: (err: Error) => void;
}

/**
 * gzip of whole buffers on worker threads (util/byte-threads.ts), one job per thread at a
 * time, so a chunk never waits behind another on a thread while one is free.
 */
export class GzipPool {
  private readonly idle: number[];
  private readonly queue: Job[] = [];
  readonly size: number;

  /** On `threads` (by default a set of `size` threads of its own). */
  constructor(size: number, private readonly threads = new ByteThreads(size)) {
    this.size = Math.min(size, threads.size);
    this.idle = Array.from({ length: this.size }, (_, i) => this.size - 1 - i);
  }

  /**
   * One complete gzip member of `chunk`. The chunk's memory moves to the thread and back (no
   * copies), so the caller must not touch `chunk` until the result returns it, and the chunk
   * must own its whole ArrayBuffer (Buffer.allocUnsafeSlow): a transfer detaches every view.
   */
  compress(chunk: Buffer): Promise<GzipResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ chunk, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0 && this.idle.length > 0) {
      const index = this.idle.pop()!;
      const job = this.queue.shift()!;
      // A thread that dies takes only its own job with it; the next job starts a new one.
      const done = (): void => {
        this.idle.push(index);
        this.dispatch();
      };
      const view = new Uint8Array(job.chunk.buffer, job.chunk.byteOffset, job.chunk.byteLength);
      const id = this.threads.newId();
      this.threads.post(index, { op: 'gzip', id, chunk: view, level: GZIP_LEVEL }, [view.buffer as ArrayBuffer], 1, {
        onReply: ({ member, chunk }) => {
          job.resolve({ member: Buffer.from(member!.buffer, member!.byteOffset, member!.byteLength), chunk: Buffer.from(chunk!.buffer) });
          done();
        },
        onError: (err) => {
          job.reject(err);
          done();
        },
      });
    }
  }
}

let shared: GzipPool | undefined;

/** The process-wide pool, on every thread of the process's set (sharedByteThreads). */
export function sharedGzipPool(): GzipPool {
  const threads = sharedByteThreads();
  shared ??= new GzipPool(threads.size, threads);
  return shared;
}

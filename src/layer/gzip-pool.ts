import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

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

const WORKER_URL = new URL('./gzip-worker.js', import.meta.url);

/**
 * A fixed number of worker threads that gzip whole buffers, one job per worker at a time,
 * started on first use. A busy worker keeps the process alive (its answer is awaited); an idle
 * one does not, so a CLI run ends when its work does without anyone closing the pool.
 */
export class GzipPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly queue: Job[] = [];
  private started = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`GzipPool size must be a positive integer, got ${size}`);
  }

  /**
   * One complete gzip member of `chunk`. The chunk's memory moves to the worker and back (no
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
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.started < this.size ? this.spawn() : undefined);
      if (worker === undefined) return;
      const job = this.queue.shift()!;
      this.busy.set(worker, job);
      worker.ref();
      const view = new Uint8Array(job.chunk.buffer, job.chunk.byteOffset, job.chunk.byteLength);
      worker.postMessage(view, [view.buffer as ArrayBuffer]);
    }
  }

  private spawn(): Worker {
    this.started += 1;
    const worker = new Worker(WORKER_URL);
    worker.on('message', ({ member, chunk }: { member: Uint8Array; chunk: Uint8Array }) => {
      const job = this.busy.get(worker)!;
      this.busy.delete(worker);
      worker.unref();
      this.idle.push(worker);
      job.resolve({ member: Buffer.from(member.buffer, member.byteOffset, member.byteLength), chunk: Buffer.from(chunk.buffer) });
      this.dispatch();
    });
    // A worker that dies takes only its own job with it; the next dispatch starts a new one.
    const lost = (err: Error): void => {
      const job = this.busy.get(worker);
      const at = this.idle.indexOf(worker);
      if (job === undefined && at < 0) return;
      this.busy.delete(worker);
      if (at >= 0) this.idle.splice(at, 1);
      this.started -= 1;
      job?.reject(err);
      this.dispatch();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`gzip worker exited with code ${code}`)));
    return worker;
  }
}

let shared: GzipPool | undefined;

/** What one gzip worker costs: its V8 isolate (about 10-12 MB of RSS, measured) plus two 1 MiB chunks and a member in flight. */
const WORKER_MIB = 15;
/**
 * The memory the gzip workers may take together, whatever the core count: a 16-core runner
 * gets 4 workers, not 16 (simulated in `npm run bench`: 16 workers took the build from
 * 183 to 315 MiB peak RSS). Two cores keep one worker each.
 */
const POOL_MIB = 64;

/** The process-wide pool: one worker per core, within POOL_MIB. Every layer of every build shares it. */
export function sharedGzipPool(): GzipPool {
  shared ??= new GzipPool(Math.max(1, Math.min(availableParallelism(), Math.floor(POOL_MIB / WORKER_MIB))));
  return shared;
}

import { writev } from 'node:fs';
import type { Readable } from 'node:stream';
/** Bytes queued for the disk at which the source is paused until the write catches up. */
const WRITE_QUEUE_BYTES = 1024 * 1024;

/**
 * Writes a stream's chunks to `fd` in order, one writev at a time of whatever queued while the
 * last was on its way (fewer system calls than a write per 64 KiB chunk, and no copy): at most
 * WRITE_QUEUE_BYTES wait, the source pausing above that, and while another consumer of its
 * chunks asks (pauseUntil). drained() settles once everything added is written, or with the
 * first error (the source is then destroyed).
 */
export class WriteQueue {
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false;
  private holds = 0;
  private failure: Error | undefined;
  private onIdle: (() => void) | undefined;

  constructor(
    private readonly fd: number,
    private readonly source: Readable,
  ) {}

  add(chunk: Buffer): void {
    if (this.failure) return;
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    if (this.queuedBytes >= WRITE_QUEUE_BYTES) this.source.pause();
    this.next();
  }

  /** Keeps the source paused until `ready` settles; its rejection fails the queue. */
  pauseUntil(ready: Promise<void>): void {
    this.holds += 1;
    this.source.pause();
    ready.then(
      () => {
        this.holds -= 1;
        this.next();
      },
      (err: Error) => {
        this.holds -= 1;
        this.fail(err);
      },
    );
  }

  drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.failure) reject(this.failure);
        else if (!this.writing && this.queued.length === 0) resolve();
        else this.onIdle = check;
      };
      check();
    });
  }

  /** Writes nothing more, and settles once no write is running. */
  stopped(): Promise<void> {
    this.failure ??= new Error('the write queue was stopped');
    this.queued = [];
    return new Promise((resolve) => {
      const check = () => (this.writing ? (this.onIdle = check) : resolve());
      check();
    });
  }

  private next(): void {
    if (this.writing) return;
    if (this.failure || this.queued.length === 0) {
      if (!this.failure && this.holds === 0 && this.source.isPaused()) this.source.resume();
      this.idle();
      return;
    }
    const buffers = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    this.writing = true;
    this.write(buffers);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.source.destroy(err);
    this.idle();
  }

  private idle(): void {
    const waiting = this.onIdle;
    this.onIdle = undefined;
    waiting?.();
  }

  /** One writev, and again with what is left after a short write. */
  private write(buffers: Buffer[]): void {
    writev(this.fd, buffers, (err, written) => {
      if (err) {
        this.writing = false;
        this.fail(err);
        return;
      }
      const rest = afterBytes(buffers, written);
      if (rest.length > 0) return this.write(rest);
      this.writing = false;
      this.next();
    });
  }
}

/** What of `buffers` follows the first `n` bytes. */
function afterBytes(buffers: Buffer[], n: number): Buffer[] {
  let skip = n;
  const rest: Buffer[] = [];
  for (const b of buffers) {
    if (skip >= b.length) skip -= b.length;
    else {
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return rest;
}

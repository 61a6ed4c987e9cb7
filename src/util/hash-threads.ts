import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { sharedByteThreads } from './byte-threads.js';

/** Where a stream's sha256 runs: on a hash thread, or on the thread that streams the bytes. */
export type HashPlace = 'thread' | 'here';

/**
 * Where the layer writer's own hashes run (each file's content, the tar's diff_id). On 2
 * cores the compressor already keeps both busy (zstd -T2, or gzip on the byte threads), so a
 * hash takes the same core time wherever it runs, and on a thread it takes more: the copy
 * into a stage and the messages there and back. 1 GiB in 1 MiB chunks cost 1.12-1.13 CPU-s
 * through ThreadedHash against 0.77-0.79 with createHash on the caller's thread, and the
 * stages handed back are fresh ArrayBuffers to V8, which start full collections (a 1 GiB zstd
 * build: 52 mark-compacts with the hashes on threads, 41 without). With more cores, a thread
 * is a core the compressor does not use, and the main thread stays free to move bytes.
 */
export function layerHashPlace(): HashPlace {
  return availableParallelism() > 2 ? 'thread' : 'here';
}

/**
 * A sha256 fed chunk by chunk, wherever it runs. update() returns a promise when the caller
 * must wait before the next update and before reusing `chunk`; digest() completes it, every
 * chunk given to update() included (it may be called before the last update's promise
 * settles); abandon() gives up an unfinished one.
 */
export interface StreamHash {
  update(chunk: Buffer): Promise<void> | undefined;
  digest(): Promise<`sha256:${string}`>;
  abandon(): void;
}

/** A StreamHash at `place`: a ThreadedHash, or createHash on the caller's thread. */
export function streamHash(place: HashPlace): StreamHash {
  if (place === 'thread') return new ThreadedHash();
  const hash = createHash('sha256');
  return {
    update: (chunk) => void hash.update(chunk),
    digest: async () => `sha256:${hash.digest('hex')}`,
    abandon: () => {},
  };
}

/** Bytes handed to a hash thread at once: big enough that messaging costs nothing next to hashing. */
const STAGE_SIZE = 1024 * 1024;
/** Stages of one hash in flight: while they are, update() asks the caller to wait (bounded memory). */
const STAGES_IN_FLIGHT = 4;
/**
 * Threads of the process's set (util/byte-threads.ts) that hash, whatever the core count:
 * enough for the two or three sha256 streams a layer has at once (file contents, the tar, the
 * compressed blob) to run beside the main thread; the rest of a many-core set gzips.
 */
const MAX_THREADS = 2;

interface Waiting {
  onStage: (stage: Buffer) => void;
  onDigest: (hex: string) => void;
  onError: (err: Error) => void;
}

let nextThread = 0;

/** Registers a hash on the next hash thread (round robin); returns the function that sends it a message. */
function open(waiting: Waiting): Sender {
  const threads = sharedByteThreads();
  const index = nextThread++ % Math.min(MAX_THREADS, threads.size);
  const id = threads.newId();
  const handler = {
    onReply: ({ data, digest }: { data?: Uint8Array; digest?: string }) => {
      if (data !== undefined) waiting.onStage(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      if (digest !== undefined) waiting.onDigest(digest);
    },
    onError: waiting.onError,
  };
  return {
    send: (data, end) => {
      const replies = (data === undefined ? 0 : 1) + (end ? 1 : 0);
      if (data === undefined) threads.post(index, { op: 'hash', id, end }, [], replies, handler);
      else {
        const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        threads.post(index, { op: 'hash', id, data: view, end }, [view.buffer as ArrayBuffer], replies, handler);
      }
    },
    drop: () => threads.drop(index, id),
  };
}

interface Sender {
  send: (data: Buffer | undefined, end: boolean) => void;
  /** Forgets an unfinished hash (its stream failed): the thread drops its state. */
  drop: () => void;
}

/**
 * sha256 computed on a hash thread, so that the main thread only copies bytes while the
 * hashing runs on another core. update() copies into 1 MiB stages (the caller keeps its
 * buffer); a hash smaller than one stage never leaves the main thread. Same digest as
 * createHash('sha256') of the same bytes.
 */
export class ThreadedHash implements StreamHash {
  private stage: Buffer | undefined;
  private filled = 0;
  private readonly free: Buffer[] = [];
  private inFlight = 0;
  private sender: Sender | undefined;
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private result: ((hex: string) => void) | undefined;
  private rejectResult: ((err: Error) => void) | undefined;
  /** The copy of a chunk's rest still waiting for a stage: digest() must not finish before it. */
  private copying: Promise<void> | undefined;
  /** Bytes hashed so far. */
  size = 0;

  /**
   * Adds `chunk`. Returns a promise when the stages are all in flight: the caller must wait
   * for it before the next update and before changing `chunk` (part of it may not be copied
   * yet); memory stays bounded. Otherwise undefined, and `chunk` is the caller's again.
   */
  update(chunk: Buffer): Promise<void> | undefined {
    // Rejected, not thrown: a caller inside a stream's write would throw out of an fs or zlib callback.
    if (this.failure) return Promise.reject(this.failure);
    this.size += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.stage === undefined) {
        if (this.inFlight >= STAGES_IN_FLIGHT) {
          // Only reached mid-chunk when the chunk is larger than the free stages: copy the rest after a stage returns.
          const rest = chunk.subarray(offset);
          this.size -= rest.length;
          // A stream may end (and its consumer ask for the digest) while this copy waits.
          const copying = this.waitForStage().then(() => this.update(rest));
          this.copying = copying;
          return copying;
        }
        this.stage = this.free.pop() ?? Buffer.allocUnsafeSlow(STAGE_SIZE);
      }
      const copied = chunk.copy(this.stage, this.filled, offset);
      this.filled += copied;
      offset += copied;
      if (this.filled === this.stage.length) this.sendStage(false);
    }
    return this.inFlight >= STAGES_IN_FLIGHT ? this.waitForStage() : undefined;
  }

  /** The digest of everything added. */
  async digest(): Promise<`sha256:${string}`> {
    // A nested copy replaces `copying` with its own, which settles before the outer one.
    while (this.copying !== undefined) {
      const copying = this.copying;
      await copying;
      if (this.copying === copying) this.copying = undefined;
    }
    if (this.failure) throw this.failure;
    if (this.sender === undefined) {
      // Never sent a stage: small enough to hash here.
      const hex = createHash('sha256').update(this.stage?.subarray(0, this.filled) ?? Buffer.alloc(0)).digest('hex');
      return `sha256:${hex}`;
    }
    const hex = new Promise<string>((resolve, reject) => {
      this.result = resolve;
      this.rejectResult = reject;
    });
    if (this.stage !== undefined && this.filled > 0) this.sendStage(true);
    else this.sender.send(undefined, true);
    return `sha256:${await hex}`;
  }

  /** Gives up an unfinished hash. */
  abandon(): void {
    this.sender?.drop();
  }

  private sendStage(end: boolean): void {
    this.sender ??= open({
      onStage: (stage) => {
        this.inFlight -= 1;
        // A short last stage is a view of a full one: keep the whole buffer for reuse.
        this.free.push(Buffer.from(stage.buffer));
        this.wake?.();
      },
      onDigest: (hex) => this.result?.(hex),
      onError: (err) => {
        this.failure = err;
        this.wake?.();
        this.rejectResult?.(err);
      },
    });
    const data = this.stage!.subarray(0, this.filled);
    this.stage = undefined;
    this.filled = 0;
    this.inFlight += 1;
    this.sender.send(data, end);
  }

  private waitForStage(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.wake = () => {
        this.wake = undefined;
        if (this.failure) reject(this.failure);
        else resolve();
      };
    });
  }
}

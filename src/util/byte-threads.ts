import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** What the main thread asks of a thread (util/byte-worker.ts). */
export type ThreadMessage =
  | { op: 'hash'; id: number; data?: Uint8Array; end?: boolean }
  | { op: 'drop'; id: number }
  | { op: 'gzip'; id: number; chunk: Uint8Array; level: number };

/** What a thread answers; `final` is the last answer to that id. */
export interface ThreadReply {
  id: number;
  final?: boolean;
  /** hash: a stage handed back once hashed; `digest` the hex sha256 at the end. */
  data?: Uint8Array;
  digest?: string;
  /** gzip: the member, and the chunk's memory handed back. */
  member?: Uint8Array;
  chunk?: Uint8Array;
}

export interface ReplyHandler {
  onReply: (reply: ThreadReply) => void;
  /** The thread died: this id gets no more answers. */
  onError: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  handlers: Map<number, ReplyHandler>;
  /** Answers still to come: the thread keeps the process alive only while there are some. */
  replies: number;
}

const WORKER_URL = new URL('./byte-worker.js', import.meta.url);

/**
 * A fixed set of worker threads that hash (sha256) and gzip buffers for the main thread, each
 * started on first use. One set serves both, because on Node 24 every thread costs 12-16 MiB
 * of RSS before it does anything: separate hash threads and gzip workers took a 1 GiB build on
 * 2 cores from 174 to 194-201 MiB peak. A busy thread keeps the process alive (its answer is
 * awaited); an idle one does not, so a CLI run ends when its work does without anyone closing
 * the set.
 */
export class ByteThreads {
  private readonly slots: (Slot | undefined)[];
  private nextId = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`ByteThreads size must be a positive integer, got ${size}`);
    this.slots = new Array<Slot | undefined>(size).fill(undefined);
  }

  /** A fresh id for a hash or a gzip job. */
  newId(): number {
    return this.nextId++;
  }

  /**
   * Sends `message` to thread `index` (started if need be), `replies` answers to come; they go
   * to `handler` until one is final. `transfer` moves buffers without copying them.
   */
  post(index: number, message: ThreadMessage, transfer: ArrayBuffer[], replies: number, handler: ReplyHandler): void {
    const slot = (this.slots[index] ??= this.start(index));
    if (!slot.handlers.has(message.id)) slot.handlers.set(message.id, handler);
    if (slot.replies === 0 && replies > 0) slot.worker.ref();
    slot.replies += replies;
    slot.worker.postMessage(message, transfer);
  }

  /** Forgets an unfinished hash: its thread drops the state. */
  drop(index: number, id: number): void {
    const slot = this.slots[index];
    if (slot?.handlers.delete(id)) slot.worker.postMessage({ op: 'drop', id } satisfies ThreadMessage);
  }

  private start(index: number): Slot {
    const slot: Slot = { worker: new Worker(WORKER_URL), handlers: new Map(), replies: 0 };
    slot.worker.unref();
    slot.worker.on('message', (reply: ThreadReply) => {
      slot.replies -= 1;
      if (slot.replies === 0) slot.worker.unref();
      const handler = slot.handlers.get(reply.id);
      if (reply.final) slot.handlers.delete(reply.id);
      handler?.onReply(reply);
    });
    // A thread that dies fails only what it held; the next post starts a new one.
    const lost = (err: Error): void => {
      if (this.slots[index] !== slot) return;
      this.slots[index] = undefined;
      const handlers = [...slot.handlers.values()];
      slot.handlers.clear();
      slot.replies = 0;
      for (const handler of handlers) handler.onError(err);
    };
    slot.worker.on('error', lost);
    slot.worker.on('exit', (code) => lost(new Error(`worker thread exited with code ${code}`)));
    return slot;
  }
}

/** What one thread costs: its V8 isolate (10-12 MiB of RSS on Node 20, 12-16 on Node 24, measured) plus the buffers it holds. */
const THREAD_MIB = 15;
/**
 * The memory the threads may take together, whatever the core count: a 16-core runner gets 4
 * threads, not 16 (simulated in `npm run bench`: 16 gzip workers took a build from 183 to
 * 315 MiB peak RSS). Two cores get two.
 */
const THREADS_MIB = 64;

let shared: ByteThreads | undefined;

/** The process-wide set: one thread per core, within THREADS_MIB. Every hash and every gzip layer shares it. */
export function sharedByteThreads(): ByteThreads {
  shared ??= new ByteThreads(Math.max(1, Math.min(availableParallelism(), Math.floor(THREADS_MIB / THREAD_MIB))));
  return shared;
}

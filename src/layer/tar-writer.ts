import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as createPack, type Header, type Pack } from 'tar-stream';
import { layerHashPlace } from '../util/hash-threads.js';
import { HashingStream, sha256Digest, type Digest } from '../oci/digest.js';

/** One entry of a layer, as it will appear in the tar. */
export interface LayerEntry {
  /** Path inside the image, POSIX, relative to `/`, no leading or trailing slash. */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  /** Permission bits (0o7777 at most). */
  mode: number;
  uid: number;
  gid: number;
  /** Files: the byte count and the host file their content is streamed from… */
  size?: number;
  source?: string;
  /** The content's digest, where it is known without reading the file (a store blob). */
  digest?: Digest;
  /** …or, for small generated files (registry links, lock files), the bytes themselves. */
  content?: Buffer;
  /** Symlinks: the target as written; hardlinks: the path (inside the image) linked to. */
  linkname?: string;
}

/** Where writeTar puts each file's digest it learns (by source), as soon as the file is in the tar. */
export interface DigestSink {
  set(source: string, digest: Digest): void;
}

/** Bump when writeTar makes other bytes of the same entries: keys of the old format then never match. */
const TAR_FORMAT = 1;

/**
 * Names the tar writeTar makes of `entries` without reading a file: every field the tar
 * holds, with each file's content named by its digest. Undefined when some file's digest is
 * not known.
 */
export function tarKey(entries: readonly LayerEntry[], mtime: Date): Digest | undefined {
  const hash = createHash('sha256').update(`sealbuild tar ${TAR_FORMAT} ${mtime.getTime()}\n`);
  for (const e of [...entries].sort((a, b) => compareEntryPaths(a.path, b.path))) {
    let content = '';
    if (e.content !== undefined) content = createHash('sha256').update(e.content).digest('hex');
    else if (e.type === 'file' && e.size !== 0) {
      if (e.digest === undefined) return undefined;
      content = e.digest;
    }
    hash.update(`${JSON.stringify([e.path, e.type, e.mode, e.uid, e.gid, e.size ?? 0, e.linkname ?? '', content])}\n`);
  }
  return `sha256:${hash.digest('hex')}`;
}

/** `entries` with the digest of each file whose source is in `digests`. */
export function withDigests(entries: readonly LayerEntry[], digests: ReadonlyMap<string, Digest>): LayerEntry[] {
  return entries.map((e) => (e.source !== undefined && digests.has(e.source) ? { ...e, digest: digests.get(e.source)! } : e));
}

/** Byte order on UTF-8 paths: a parent always sorts before its children. */
export function compareEntryPaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Read size for large files: few reads, few stream chunks, each worth a message to a hash or gzip thread. */
const READ_CHUNK = 1024 * 1024;
/** Files up to this size are read whole, in one call, when the tar reaches them. */
const WHOLE_FILE_MAX = 256 * 1024;
/** The tar leaves in chunks of at least this much (file contents above it pass as they are). */
const OUTPUT_CHUNK = 1024 * 1024;

/**
 * A deterministic tar of `entries`: sorted by path, uid/gid as given with empty uname and
 * gname, every mtime the same, directories with a trailing slash. Same entries and same file
 * contents give the same bytes on any machine. File contents are streamed, never buffered:
 * small files are read whole when the tar reaches them, large ones in 1 MiB reads, and the
 * output is coalesced into chunks of at least 1 MiB, so each stage downstream (hashes, gzip
 * workers, the zstd pipe, the blob file) moves few large buffers instead of many 512-byte
 * headers and 64 KiB reads. With `learn`, each file's digest is taken from the bytes on
 * their way into the tar (a large file's where layerHashPlace says).
 */
export function writeTar(entries: readonly LayerEntry[], mtime: Date, learn?: DigestSink): Readable {
  const sorted = [...entries].sort((a, b) => compareEntryPaths(a.path, b.path));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.path === sorted[i - 1]!.path) throw new Error(`duplicate layer entry ${sorted[i]!.path}`);
  }
  const pack = createPack();
  void (async () => {
    for (const entry of sorted) await addEntry(pack, entry, mtime, learn);
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return Readable.from(coalesce(pack as unknown as AsyncIterable<Buffer>), { objectMode: false, highWaterMark: OUTPUT_CHUNK });
}

function isReadWhole(entry: LayerEntry): boolean {
  return entry.type === 'file' && entry.content === undefined && entry.size !== undefined && entry.size > 0 && entry.size <= WHOLE_FILE_MAX;
}

/**
 * The content of a small file, read at once with blocking calls: for a file this small, the
 * promise API's open, read and close (three trips to libuv's threads, a FileHandle each) cost
 * more than reading it, and they kept 64 files in flight ahead of the tar (the 1 GiB bench
 * context's 5,000 files: about 0.5 CPU-s of the main thread went to open/read/close alone,
 * and the read-ahead buffers to peak RSS). A file that grew since it was listed gives its
 * first `size` bytes (as the streamed read of a large file does); one that shrank is an error.
 */
function readWhole(entry: LayerEntry): Buffer {
  const fd = openSync(entry.source!, 'r');
  try {
    const content = Buffer.allocUnsafe(entry.size!);
    let filled = 0;
    while (filled < content.length) {
      const bytesRead = readSync(fd, content, filled, content.length - filled, filled);
      if (bytesRead === 0) throw new Error(`${entry.source}: the file is shorter than when it was listed (${filled} of ${entry.size} bytes): it changed during the build`);
      filled += bytesRead;
    }
    return content;
  } finally {
    closeSync(fd);
  }
}

/** Re-cuts the tar into chunks of at least OUTPUT_CHUNK bytes (copying only what is smaller). */
async function* coalesce(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    if (chunk.length >= OUTPUT_CHUNK) {
      if (size > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      parts = [];
      size = 0;
      yield chunk;
      continue;
    }
    parts.push(chunk);
    size += chunk.length;
    if (size >= OUTPUT_CHUNK) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}

async function addEntry(pack: Pack, entry: LayerEntry, mtime: Date, learn: DigestSink | undefined): Promise<void> {
  const header: Partial<Header> & { name: string } = {
    name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
    type: entry.type,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    uname: '',
    gname: '',
    mtime,
  };
  if (entry.type === 'symlink' || entry.type === 'link') header.linkname = entry.linkname!;
  if (entry.type !== 'file' || entry.size === 0 || entry.content !== undefined) {
    await new Promise<void>((resolve, reject) => pack.entry(header, entry.content ?? '', (err) => (err ? reject(err) : resolve())));
    return;
  }
  header.size = entry.size!;
  if (isReadWhole(entry)) {
    const content = readWhole(entry);
    // Hashed here, not on a hash thread: for a file this small, the copy and the messages
    // there and back cost 4-5 times the CPU of hashing it (2,000 files of 8-72 KiB: 350-420
    // ms against 80; 300 of 256 KiB: 270-280 against 60).
    if (learn) learn.set(entry.source!, sha256Digest(content));
    await new Promise<void>((resolve, reject) => pack.entry(header, content, (err) => (err ? reject(err) : resolve())));
    return;
  }
  await new Promise<void>((resolve, reject) => {
    // tar-stream reports a short or long body (a file changed since it was listed) here.
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    const content = createReadStream(entry.source!, { start: 0, end: entry.size! - 1, highWaterMark: READ_CHUNK });
    const stages: Readable[] = [content];
    if (learn) {
      const hasher = new HashingStream(layerHashPlace());
      stages.push(hasher);
      hasher.on('end', () => learn.set(entry.source!, hasher.digest()));
    }
    pipeline([...stages, sink]).catch(reject);
  });
}

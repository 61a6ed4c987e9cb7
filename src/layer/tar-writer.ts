import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as createPack, type Header, type Pack } from 'tar-stream';
import type { Digest } from '../oci/digest.js';

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

/**
 * A deterministic tar of `entries`: sorted by path, uid/gid as given with empty uname and
 * gname, every mtime the same, directories with a trailing slash. Same entries and same file
 * contents give the same bytes on any machine. File contents are streamed, never buffered;
 * with `learn`, each file's digest is taken from the bytes on their way into the tar.
 */
export function writeTar(entries: readonly LayerEntry[], mtime: Date, learn?: Map<string, Digest>): Readable {
  const sorted = [...entries].sort((a, b) => compareEntryPaths(a.path, b.path));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.path === sorted[i - 1]!.path) throw new Error(`duplicate layer entry ${sorted[i]!.path}`);
  }
  const pack = createPack();
  void (async () => {
    for (const entry of sorted) await addEntry(pack, entry, mtime, learn);
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

async function addEntry(pack: Pack, entry: LayerEntry, mtime: Date, learn: Map<string, Digest> | undefined): Promise<void> {
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
  await new Promise<void>((resolve, reject) => {
    // tar-stream reports a short or long body (a file changed since it was listed) here.
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    const content = createReadStream(entry.source!, { start: 0, end: entry.size! - 1 });
    if (learn) {
      const hash = createHash('sha256');
      content.on('data', (chunk) => hash.update(chunk));
      content.on('end', () => learn.set(entry.source!, `sha256:${hash.digest('hex')}`));
    }
    pipeline(content, sink).catch(reject);
  });
}

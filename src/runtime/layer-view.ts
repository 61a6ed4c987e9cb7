import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { memoName, type LayerIdentity } from '../layer/layer-reader.js';
import type { Layer } from '../layer/image-model.js';
import type { FileDigestOf } from '../layer/layer-writer.js';
import { digestHex, type Digest } from '../oci/digest.js';
import { Records } from '../cache/records.js';
import type { BlobBatch } from '../store/store.js';
import { GoBuildInfoFinder } from './go-buildinfo.js';
import { ELF_HEADER_BYTES, isElfChecked, parseElfHeader } from './elf.js';
import { MAX_METADATA_BYTES } from './metadata.js';
import { REGISTRY_IMAGE_PATH, REGISTRY_PLACEHOLDER_MARKER, UPSTREAM_CONTRACT_FILES } from './runtimes.js';
import { whiteoutOf } from '../layer/whiteout.js';
import { compareEntryPaths, type LayerEntry } from '../layer/tar-writer.js';
import { checkLayerFacts, type ArchiveKind, type LayerFacts, type PathFacts } from './layer-facts.js';

/**
 * The layer view: what an image's layers hold together, as a runtime would see it (its rootfs):
 * each path's facts and the layer (by position) that last wrote it.
 */
export type LayerView = Map<string, PathFacts & { layer: number }>;

/** A stream read to its end: a tar entry's body or a file. */
type Body = AsyncIterable<Buffer>;

const REGISTRY_REPOSITORIES = 'registry/docker/registry/v2/repositories/';
const MAX_LINK_BYTES = 1024;

/** Kubernetes documents and charts are small; anything larger is not one. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

/**
 * The documents a caller wants the bytes of, besides what the runtime contracts read: the
 * airgap scan passes its own (airgap/documents.ts). Every reader of one memo directory must
 * pass the same, since a memo keeps what its scan kept.
 */
export type KeptDocuments = (path: string) => boolean;
const NO_DOCUMENTS: KeptDocuments = () => false;

/**
 * Files whose bytes are kept: the Metadata, sealos' and sealer's configuration files and
 * distribution's link files (`sha256:<hex>`) for the runtime contracts, and the caller's
 * `documents`.
 */
function keepsContent(path: string, size: number, documents: KeptDocuments): boolean {
  if (path === 'Metadata' || (UPSTREAM_CONTRACT_FILES as readonly string[]).includes(path)) return size <= MAX_METADATA_BYTES;
  if (documents(path)) return size <= MAX_DOCUMENT_BYTES;
  return path.startsWith(REGISTRY_REPOSITORIES) && path.endsWith('/link') && size <= MAX_LINK_BYTES;
}

/** Directories every file of which an SBOM lists with its digests, executable or not (scripts too). */
const SBOM_FILE_DIRS = /(^|\/)s?bin\//;
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export function cleanPath(name: string): string {
  return posix.normalize(name).replace(/^(\.\/|\/)+/, '').replace(/\/$/, '');
}

/**
 * Reads a stream to its end, looking at what the contract needs: the first bytes (ELF
 * header), the whole content (small files), or an archive classification; and what an SBOM
 * lists of binaries: their digests and Go build information. Always consumes everything, so
 * a tar reader can move on to the next entry. `whole` is false when `body` is only a
 * file's head (a directory view): nothing is hashed then.
 */
async function inspectBody(path: string, size: number, body: Body, documents: KeptDocuments, whole = true, knownSha256?: Promise<Digest>): Promise<Pick<PathFacts, 'elf' | 'content' | 'archive' | 'sha256' | 'sha1' | 'go'>> {
  if (path === REGISTRY_IMAGE_PATH) return { archive: await classifyArchive(body) };
  const keep = keepsContent(path, size, documents);
  const wantHead = !keep && isElfChecked(path) && size >= ELF_HEADER_BYTES;
  const chunks: Buffer[] = [];
  let held = 0;
  // Every file is hashed from its first byte until it is known not to be listed (not in a
  // bin dir and not ELF): registry blobs and documents cost one chunk's hash at most.
  const listedDir = SBOM_FILE_DIRS.test(path);
  // The sha256 is not taken here when the layer writer gives it (the file's digest, learnt as the file went into the tar).
  let hashes: { sha256?: Hash; sha1: Hash } | undefined = whole && !path.startsWith('registry/') ? { ...(knownSha256 ? {} : { sha256: createHash('sha256') }), sha1: createHash('sha1') } : undefined;
  let magic = Buffer.alloc(0);
  let go: GoBuildInfoFinder | undefined;
  for await (const chunk of body) {
    if (keep || (wantHead && held < ELF_HEADER_BYTES)) {
      chunks.push(chunk);
      held += chunk.length;
    }
    if (hashes === undefined) continue;
    if (magic.length < ELF_MAGIC.length) {
      magic = Buffer.concat([magic, chunk.subarray(0, ELF_MAGIC.length - magic.length)]);
      const elf = magic.length === ELF_MAGIC.length && magic.equals(ELF_MAGIC);
      if (elf) go = new GoBuildInfoFinder();
      else if (!listedDir && (magic.length === ELF_MAGIC.length || !ELF_MAGIC.subarray(0, magic.length).equals(magic))) {
        hashes = undefined;
        continue;
      }
    }
    hashes.sha256?.update(chunk);
    hashes.sha1.update(chunk);
    go?.push(chunk);
  }
  const out: Pick<PathFacts, 'elf' | 'content' | 'sha256' | 'sha1' | 'go'> = {};
  // An empty file is listed only in a bin dir; a file shorter than the magic is not ELF.
  if (hashes !== undefined && (listedDir || go !== undefined)) {
    out.sha256 = hashes.sha256 ? hashes.sha256.digest('hex') : digestHex(await knownSha256!);
    out.sha1 = hashes.sha1.digest('hex');
    const info = go?.result();
    if (info) out.go = info;
  }
  if (keep) return { ...out, content: Buffer.concat(chunks).toString('base64') };
  const elf = wantHead ? parseElfHeader(Buffer.concat(chunks).subarray(0, ELF_HEADER_BYTES)) : undefined;
  return elf ? { ...out, elf } : out;
}

/**
 * Whether a stream is a container image archive `ctr import` / `nerdctl load` / `docker
 * load` accept: an OCI layout tar (oci-layout + index.json) or a docker archive
 * (manifest.json), gzip-compressed or not. Parse errors mean "invalid", never a failure of
 * the caller's own reading.
 */
async function classifyArchive(body: Body): Promise<ArchiveKind> {
  const names = new Set<string>();
  let inner: Duplex | undefined;
  let done: Promise<void> = Promise.resolve();
  let failed = false;
  let placeholder = false;
  for await (const chunk of body) {
    if (inner === undefined && !placeholder) {
      if (chunk.subarray(0, REGISTRY_PLACEHOLDER_MARKER.length).toString('latin1') === REGISTRY_PLACEHOLDER_MARKER) {
        placeholder = true;
        continue;
      }
      const reader = extract();
      reader.on('entry', (header, entry, next) => {
        names.add(cleanPath(header.name));
        entry.on('end', () => next());
        entry.resume();
      });
      inner = chunk[0] === 0x1f && chunk[1] === 0x8b ? createGunzip() : new PassThrough();
      done = pipeline(inner, reader).catch(() => {
        failed = true;
      });
    }
    // An error on `inner` also settles `done` (failed); `once` would reject on it, so it is ignored here.
    if (inner && !failed && !inner.write(chunk)) await Promise.race([once(inner, 'drain').catch(() => undefined), done]);
  }
  if (placeholder) return 'placeholder';
  if (inner && !failed) inner.end();
  await done;
  if (failed) return 'invalid';
  if (names.has('oci-layout') && names.has('index.json')) return 'oci';
  return names.has('manifest.json') ? 'docker' : 'invalid';
}

/** The facts of a layer's entries, from its uncompressed tar; `fileDigest` (the layer writer's) spares hashing files whose digest it knows. */
async function scanTar(tar: Readable, documents: KeptDocuments, fileDigest?: FileDigestOf): Promise<LayerFacts> {
  const facts: LayerFacts = { version: 4, entries: {}, removed: [], opaque: [] };
  const reader = extract();
  reader.on('entry', (header, body, next) => {
    const path = cleanPath(header.name);
    const whiteout = whiteoutOf(path);
    if (whiteout !== undefined && 'opaque' in whiteout) facts.opaque.push(whiteout.opaque);
    else if (whiteout !== undefined) facts.removed.push(whiteout.removed);
    const type = header.type;
    if (path === '' || whiteout !== undefined || (type !== 'file' && type !== 'directory' && type !== 'symlink' && type !== 'link')) {
      body.on('end', () => next());
      // A damaged layer fails the entry too; the pipeline below reports it once.
      body.on('error', () => {});
      body.resume();
      return;
    }
    const entry: PathFacts = { type, mode: (header.mode ?? 0) & 0o7777, size: header.size ?? 0 };
    if (header.linkname) entry.linkname = type === 'link' ? cleanPath(header.linkname) : header.linkname;
    const stream = body as unknown as Body;
    const inspected = type === 'file' ? inspectBody(path, entry.size, stream, documents, true, fileDigest?.(path)) : drain(stream).then(() => ({}));
    inspected.then((more) => {
      facts.entries[path] = { ...entry, ...more };
      next();
    }, next);
  });
  await pipeline(tar, reader);
  return facts;
}

/**
 * The facts scanTar finds in the tar writeTar makes of `entries`, taken from the entries
 * instead of a scan of that tar: the registry/ layer's blob data is most of its bytes and
 * nothing looks inside it (not a document, not ELF-checked, not hashed for the SBOM), so the
 * scan of hundreds of MB only read past it. Files given by their bytes (links, images.lock)
 * are inspected as the scan would. Undefined when a file on disk would be looked inside: the
 * caller scans the tar then.
 */
async function factsOfEntries(entries: readonly LayerEntry[], documents: KeptDocuments): Promise<LayerFacts | undefined> {
  const facts: LayerFacts = { version: 4, entries: {}, removed: [], opaque: [] };
  for (const e of [...entries].sort((a, b) => compareEntryPaths(a.path, b.path))) {
    const path = cleanPath(e.path);
    const size = e.type !== 'file' ? 0 : (e.content?.length ?? e.size ?? 0);
    const fromDisk = e.type === 'file' && e.content === undefined && size > 0;
    if (fromDisk && !(path.startsWith('registry/') && !keepsContent(path, size, documents) && !(isElfChecked(path) && size >= ELF_HEADER_BYTES))) return undefined;
    const whiteout = whiteoutOf(path);
    if (whiteout !== undefined && 'opaque' in whiteout) facts.opaque.push(whiteout.opaque);
    else if (whiteout !== undefined) facts.removed.push(whiteout.removed);
    if (path === '' || whiteout !== undefined) continue;
    const entry: PathFacts = { type: e.type, mode: e.mode & 0o7777, size };
    if (e.linkname) entry.linkname = e.type === 'link' ? cleanPath(e.linkname) : e.linkname;
    const body: Buffer[] = e.content === undefined || e.content.length === 0 ? [] : [e.content];
    facts.entries[path] = e.type === 'file' && !fromDisk ? { ...entry, ...(await inspectBody(path, size, toBody(body), documents)) } : entry;
  }
  return facts;
}

async function* toBody(chunks: Buffer[]): Body {
  yield* chunks;
}

async function drain(body: Body): Promise<void> {
  for await (const _ of body) void _;
}

/** Applies one layer on top of the view: whiteouts first (they concern lower layers), then entries. */
export function applyLayer(view: LayerView, layer: LayerFacts, index: number): void {
  const removeUnder = (dir: string, self: boolean) => {
    const prefix = dir === '' ? '' : `${dir}/`;
    for (const path of [...view.keys()]) if ((self && path === dir) || path.startsWith(prefix)) view.delete(path);
  };
  for (const dir of layer.opaque) removeUnder(dir, false);
  for (const path of layer.removed) removeUnder(path, true);
  for (const [path, facts] of Object.entries(layer.entries)) {
    // A non-directory replacing a directory replaces its whole tree.
    if (facts.type !== 'directory' && view.get(path)?.type === 'directory') removeUnder(path, false);
    view.set(path, { ...facts, layer: index });
  }
}

/**
 * Layer facts by layer (blob and diff_id: see memoName), each layer scanned once ever: a layer
 * the build writes is scanned as its tar streams past (`scanTar` as writeLayer's inspector,
 * then `remember`), any other by decompressing its blob. With a batch (a build), facts are
 * kept in the `layer-facts` keyspace of the store's cache once it commits (so a failed build
 * leaves nothing behind), and a rebuild reads those small records instead of its layers;
 * without one (readers of the store: run, sbom), memos are only read, so the store stays
 * unchanged. An unreadable or outdated memo is scanned again.
 */
export class LayerFactsMemo {
  /** Facts met in this build, scanned or read from a memo, by memoName: the airgap scan and the runtime contract both ask. */
  private readonly known = new Map<string, LayerFacts>();
  private readonly memos: Records<LayerFacts>;

  /** `root`: the store root. */
  constructor(
    root: string,
    private readonly documents: KeptDocuments,
    private readonly batch?: BlobBatch,
  ) {
    this.memos = new Records(root, 'layer-facts', checkLayerFacts);
  }

  /** writeLayer's inspector: the facts of a tar being written. */
  readonly scanTar = (tar: Readable, fileDigest?: FileDigestOf): Promise<LayerFacts> => scanTar(tar, this.documents, fileDigest);

  /** The facts of the tar of `entries` without reading it, when they tell all (factsOfEntries). */
  ofEntries(entries: readonly LayerEntry[]): Promise<LayerFacts | undefined> {
    return factsOfEntries(entries, this.documents);
  }

  /** Facts scanned in this build: kept, and written to the memo when the batch commits. */
  remember(layer: LayerIdentity, facts: LayerFacts): void {
    const name = memoName(layer);
    if (this.known.has(name)) return;
    this.known.set(name, facts);
    this.batch?.onCommit(() => this.memos.write(name, facts));
  }

  async facts(layer: Layer): Promise<LayerFacts> {
    const name = memoName(layer);
    const known = this.known.get(name);
    if (known) return known;
    const memo = await this.memos.read(name);
    if (memo) {
      this.known.set(name, memo);
      return memo;
    }
    const scanned = await this.scanTar(layer.open());
    this.remember(layer, scanned);
    return scanned;
  }
}

/** The layer view of `layers`; with `memo`, facts already known are not scanned again (without, no documents are kept). */
export async function viewFromLayers(layers: readonly Layer[], memo?: LayerFactsMemo): Promise<LayerView> {
  const view: LayerView = new Map();
  for (const [index, layer] of layers.entries()) applyLayer(view, memo ? await memo.facts(layer) : await scanTar(layer.open(), NO_DOCUMENTS), index);
  return view;
}

/**
 * The layer view of `layers`, reading the facts builds remembered in the store at `root` and
 * scanning only layers no build saw (nothing is written: readers of the store keep it unchanged).
 */
export function viewFromRemembered(layers: readonly Layer[], root: string, documents: KeptDocuments): Promise<LayerView> {
  return viewFromLayers(layers, new LayerFactsMemo(root, documents));
}

/** The same view of a directory on disk (an exported rootfs). Symlinks are not followed. */
export async function viewFromDirectory(root: string): Promise<LayerView> {
  const view: LayerView = new Map();
  const inodes = new Map<string, string>();
  async function walk(dir: string, rel: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const abs = join(dir, name);
      const path = rel === '' ? name : `${rel}/${name}`;
      const stats = await lstat(abs);
      const base = { mode: stats.mode & 0o7777, size: stats.size, layer: 0 };
      if (stats.isDirectory()) {
        view.set(path, { ...base, type: 'directory' });
        await walk(abs, path);
      } else if (stats.isSymbolicLink()) {
        view.set(path, { ...base, type: 'symlink', linkname: await readlink(abs) });
      } else if (stats.isFile()) {
        const key = `${stats.dev}:${stats.ino}`;
        const first = stats.nlink > 1 ? inodes.get(key) : undefined;
        if (first !== undefined) {
          view.set(path, { ...base, type: 'link', linkname: first });
          continue;
        }
        if (stats.nlink > 1) inodes.set(key, path);
        const read = await headOrWhole(abs, path, stats.size);
        const more = await inspectBody(path, stats.size, read.body, NO_DOCUMENTS, read.whole);
        view.set(path, { ...base, type: 'file', ...more });
      }
    }
  }
  await walk(root, '');
  return view;
}

/** Only the header of a file that is ELF-checked: big binaries are not read whole. */
async function headOrWhole(abs: string, path: string, size: number): Promise<{ body: Readable; whole: boolean }> {
  if (path === REGISTRY_IMAGE_PATH || keepsContent(path, size, NO_DOCUMENTS) || !isElfChecked(path)) return { body: createReadStream(abs), whole: true };
  const handle = await open(abs, 'r');
  try {
    const head = Buffer.alloc(Math.min(size, ELF_HEADER_BYTES));
    await handle.read(head, 0, head.length, 0);
    const stream = new PassThrough();
    stream.end(head);
    return { body: stream, whole: false };
  } finally {
    await handle.close();
  }
}

/** Follows symlinks and hardlinks inside the view (at most 40 hops, as Linux does). */
export function resolvePath(view: LayerView, path: string): { path: string; facts: PathFacts } | undefined {
  let current = path;
  for (let hop = 0; hop < 40; hop++) {
    const facts = view.get(current);
    if (!facts) return undefined;
    if (facts.type === 'link') current = facts.linkname!;
    else if (facts.type === 'symlink') {
      const target = facts.linkname!;
      current = cleanPath(target.startsWith('/') ? target : posix.join(posix.dirname(current), target));
    } else return { path: current, facts };
  }
  return undefined;
}

/** The bytes kept for a small file (Metadata, a link), when the view has them. */
export function contentOf(facts: PathFacts): Buffer | undefined {
  return facts.content === undefined ? undefined : Buffer.from(facts.content, 'base64');
}

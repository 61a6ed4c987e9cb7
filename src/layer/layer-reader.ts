import { statfs } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { digestHex, type Digest } from '../oci/digest.js';
import { UserError } from '../util/errors.js';
import { ThreadedHash } from '../util/hash-threads.js';
import { decompressStream, detectCompression, type Compression } from './decompress.js';

/**
 * The expansion limit (README "Limits"): past EXPANSION_FREE_BYTES of tar, a layer may hold at
 * most EXPANSION_RATIO times the compressed bytes read so far. Real layers compress 2-10:1,
 * text-heavy ones rarely past 30:1; a layer of zeros reaches 1000:1 and more. The allowance
 * keeps small, very compressible layers (an empty 1 GiB file in a base image) working.
 */
export const EXPANSION_RATIO = 100;
export const EXPANSION_FREE_BYTES = 1024 ** 3;
/** What an unpacking leaves free on the target's file system, beyond the layer itself. */
export const FREE_SPACE_RESERVE_BYTES = 64 * 1024 * 1024;

let expansionAllowed = false;

/** A layer refused by openLayer: its message already names the owner and the layer. */
export class LayerError extends UserError {}

/** --allow-expansion: the user trusts these layers' expansion (set once by the CLI). */
export function allowExpansion(allowed: boolean): void {
  expansionAllowed = allowed;
}

export interface LayerToRead {
  /** The compressed blob's digest, for messages. */
  digest: Digest;
  /** The config's diff_id for this layer: the sha256 its uncompressed tar must have. */
  diffId?: Digest | undefined;
  /** What the layer belongs to, for messages: `image docker.io/x/y:1`, `the base image`. */
  owner: string;
}

/** A layer as a memo of its content knows it: the blob, and the tar that blob decompresses to. */
export interface LayerIdentity {
  descriptor: { digest: Digest };
  diffId: Digest;
}

/**
 * The key a memo of what a layer holds is kept under (the layer-facts
 * keyspace of the cache): blob digest and diff_id together. A memo is written only by a build that made the
 * layer or after its blob was read and its tar hashed to that diff_id, so the pair is proven;
 * a config that lies about its diff_ids names a pair no memo has, and its layer is read and
 * refused. Keyed by diff_id alone, it reused the honest layer's facts (#19 point 4).
 */
export function memoName(layer: LayerIdentity): string {
  return `${digestHex(layer.descriptor.digest)}-${digestHex(layer.diffId)}`;
}

/**
 * A layer blob as its uncompressed tar, for every reader of layers (build, export, the facts
 * scans behind run, sbom and verify, load; pull decompresses nothing, so these are where a
 * pulled layer's diff_id is first checked), with the checks an untrusted layer needs: the
 * tar's sha256 must be the config's diff_id (checked at the end: a consumer must read to the
 * end before it trusts what it read), the expansion must stay under the limit, and any failure, a truncated or
 * non-gzip blob included, is one UserError naming the owner and the layer digest.
 */
export function openLayer(compressed: Readable, layer: LayerToRead, compression: Compression): Readable {
  return readLayer(compressed, layer, compression);
}

/** openLayer, telling `onDiffId` the tar's sha256 once the whole tar was read. */
function readLayer(compressed: Readable, layer: LayerToRead, compression: Compression, onDiffId?: (diffId: Digest) => void): Readable {
  const label = `${layer.owner}: layer ${layer.digest}`;
  let compressedBytes = 0;
  let tarBytes = 0;
  // On a hash thread: the main thread keeps decompressing and writing meanwhile.
  const hash = new ThreadedHash();
  let flushed = false;
  compressed.on('data', (chunk: Buffer) => (compressedBytes += chunk.length));
  const checked = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      tarBytes += chunk.length;
      if (!expansionAllowed && tarBytes > EXPANSION_FREE_BYTES && tarBytes > EXPANSION_RATIO * compressedBytes) {
        return done(new LayerError(`${label}: expands more than ${EXPANSION_RATIO}:1 (${tarBytes} bytes from ${compressedBytes}), a decompression bomb?`, { hint: 'nothing was unpacked; if you trust this image, pass --allow-expansion' }));
      }
      const wait = hash.update(chunk);
      if (wait === undefined) done(null, chunk);
      else wait.then(() => done(null, chunk), done);
    },
    flush(done) {
      flushed = true;
      hash.digest().then((actual) => {
        onDiffId?.(actual);
        if (layer.diffId !== undefined && actual !== layer.diffId) {
          return done(new LayerError(`${label}: its content is ${actual}, but the image config says ${layer.diffId}`, { hint: 'the image config lies about its layers (rootfs.diff_ids); the image is malformed or hostile' }));
        }
        done();
      }, done);
    },
  });
  const tar = decompressStream(compressed, compression);
  const fail = (err: Error): void => {
    if (!checked.destroyed) checked.destroy(err instanceof LayerError ? err : damaged(label, err));
  };
  compressed.on('error', fail);
  tar.on('error', fail);
  tar.pipe(checked);
  // A consumer that stops early (or fails) stops the decompressor, the file read and the hash (its thread keeps its state otherwise).
  checked.on('close', () => {
    if (!flushed) hash.abandon();
    tar.destroy();
    compressed.destroy();
  });
  return checked;
}

function damaged(label: string, err: Error): LayerError {
  return new LayerError(`${label}: the layer is damaged (${err.message})`, { hint: 'its blob is truncated or not in the format its media type says; pull or build the image again' });
}

/** Reads a layer to its end for its checks only (load checks a layer the store already holds this way). */
export async function checkLayer(compressed: Readable, layer: LayerToRead, compression: Compression): Promise<void> {
  for await (const _ of openLayer(compressed, layer, compression)) {
    // the bytes are only hashed and counted
  }
}

/** What a blob turned out to be when read as a layer: its compression and its tar's sha256. */
export interface SniffedLayer {
  compression: Compression;
  /** Undefined when the blob is compressed in a way no layer media type names (xz, bzip2). */
  diffId?: Digest;
  /** Why the blob could not be read as a layer (damaged, a bomb): it may not be one at all. */
  error?: LayerError;
}

/**
 * Reads a blob of unknown kind as a layer would be read, for a reader that meets blobs before
 * the configs saying which are layers (`load` of an archive): the compression from its first
 * bytes, then the sha256 of what it decompresses to, under openLayer's bounds. An uncompressed
 * blob is its own tar, so its bytes past the head are not read at all. Never rejects: a blob
 * that is no layer is judged only if a config lists it.
 */
export async function sniffLayer(blob: Readable, layer: Omit<LayerToRead, 'diffId'>): Promise<SniffedLayer> {
  const head = await readHead(blob, 6);
  const compression = detectCompression(head);
  if (compression !== 'gzip' && compression !== 'zstd') {
    // Nothing more to learn from the rest; destroyed without an error, so no one must listen.
    blob.destroy();
    return compression === 'none' ? { compression, diffId: layer.digest } : { compression };
  }
  blob.unshift(head);
  let diffId: Digest | undefined;
  try {
    for await (const _ of readLayer(blob, layer, compression, (d) => (diffId = d))) {
      // the bytes are only hashed and counted
    }
    return { compression, diffId: diffId! };
  } catch (err) {
    if (err instanceof LayerError) return { compression, error: err };
    throw err;
  }
}

/** At least the first `length` bytes of a stream (fewer if it ends sooner), taken from it: a caller that reads on unshifts them. */
async function readHead(stream: Readable, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    total += chunk.length;
    if (total >= length) break;
  }
  return Buffer.concat(chunks);
}

/**
 * Before unpacking `compressedSize` bytes of layer into `dir`: the file system must hold at
 * least the compressed size plus a reserve (a layer never unpacks to less than about its
 * compressed size), so a full disk is reported up front rather than mid-layer.
 */
export async function checkFreeSpace(dir: string, compressedSize: number, label: string): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (free < compressedSize + FREE_SPACE_RESERVE_BYTES) {
    throw new UserError(`${label}: not enough free space in ${dir} to unpack ${compressedSize} bytes of layer (${free} bytes free)`, { hint: 'free some disk space, or point --root at a larger file system' });
  }
}

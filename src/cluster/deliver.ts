import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, pack, type Pack } from 'tar-stream';
import { digestHex } from '../oci/digest.js';
import { layerCompression } from '../oci/media-types.js';
import { decompressStream } from '../layer/decompress.js';
import { safeMode } from '../layer/extract.js';
import { manifestLayers } from '../layer/image-model.js';
import { isImageDocument } from '../airgap/documents.js';
import { cleanPath, viewFromRemembered, type LayerView } from '../runtime/layer-view.js';
import type { ResolvedImage } from '../store/image.js';
import type { Store } from '../store/store.js';
import { HostError, run, shellQuote, type Host } from '../hosts/host.js';
import { whiteoutOf } from '../layer/whiteout.js';

/** Where a host keeps delivered rootfs trees, one per platform image (manifest digest). */
export const ROOTFS_BASE = '/var/lib/sealbuild/rootfs';

export function hostRootfsDir(hex: string): string {
  return `${ROOTFS_BASE}/${hex}`;
}

/**
 * What a platform image's layers make: the view (which layer wrote each path), from what the
 * build remembered of them. A layer no build remembered is scanned, and so checked against its
 * diff_id before any host is touched (rootfsTar relies on that). `owner` names the image in messages.
 */
export function storedImageView(store: Store, image: ResolvedImage, owner: string): Promise<LayerView> {
  const layers = manifestLayers(image.manifest.layers, image.config.rootfs.diff_ids, (d) => store.blobPath(d), owner);
  return viewFromRemembered(layers, store.root, isImageDocument);
}

/**
 * The image's rootfs as one tar stream, whiteouts applied: each layer is read once, in order,
 * and an entry goes out only from the layer that wrote it last. Every layer blob is hashed as
 * it streams and checked against its digest; a mismatch ends the stream with an error, so the
 * host never keeps what it received.
 */
export function rootfsTar(store: Store, image: ResolvedImage, view: LayerView): Readable {
  const out = pack();
  void (async () => {
    for (const [index, layer] of image.manifest.layers.entries()) {
      const hash = createHash('sha256');
      const hashing = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          done(null, chunk);
        },
      });
      const reader = extract();
      reader.on('entry', (header, body, next) => {
        const path = cleanPath(header.name);
        const facts = view.get(path);
        if (path === '' || facts?.layer !== index || whiteoutOf(path) !== undefined) {
          body.on('end', () => next());
          body.resume();
          return;
        }
        // Without setuid/setgid, as export writes it: the host's tar keeps every mode bit (-p).
        const entry = { ...header, name: header.type === 'directory' ? `${path}/` : path, mode: safeMode(header) };
        if (header.type === 'link' && header.linkname) entry.linkname = cleanPath(header.linkname);
        copyEntry(out, entry, body as unknown as Readable).then(() => next(), next);
      });
      await pipeline(decompressStream(store.openBlob(layer.digest).pipe(hashing), layerCompression(layer.mediaType)), reader);
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== layer.digest) throw new Error(`layer ${layer.digest} of the store reads as ${got}: the store is damaged`);
    }
    out.finalize();
  })().catch((err: unknown) => out.destroy(err as Error));
  return out as unknown as Readable;
}

function copyEntry(out: Pack, header: Parameters<Pack['entry']>[0], body: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = out.entry(header, (err) => (err ? reject(err) : resolve()));
    body.on('error', reject);
    body.pipe(sink);
  });
}

/**
 * Puts the platform image's rootfs on the host unless it holds it already: streamed as tar over
 * the channel into a staging directory, renamed into place only when every byte arrived and
 * every layer matched its digest. Returns whether anything was sent.
 */
export async function deliverRootfs(host: Host, store: Store, image: ResolvedImage, view: LayerView, timeoutMs: number): Promise<boolean> {
  const hex = digestHex(image.descriptor.digest);
  const dest = hostRootfsDir(hex);
  const staging = `${ROOTFS_BASE}/.${hex}.partial`;
  const present = await host.exec(`test -f ${shellQuote(`${dest}/Metadata`)}`);
  if (present.code === 0) return false;
  const stream = rootfsTar(store, image, view);
  const through = new PassThrough();
  let localError: Error | undefined;
  stream.on('error', (err) => {
    localError = err;
    through.destroy(err);
  });
  stream.pipe(through);
  const command = `set -e; rm -rf ${shellQuote(staging)}; mkdir -p ${shellQuote(staging)}; tar -x -p --numeric-owner -C ${shellQuote(staging)} -f -`;
  let result;
  try {
    result = await host.exec(command, { stdin: through, timeoutMs });
  } catch (err) {
    throw new HostError(host.address, 'deliver', `${(err as Error).message} while sending the rootfs`, 'run the command again once the host is back: delivery starts over for this host only');
  }
  if (localError) throw new HostError(host.address, 'deliver', localError.message);
  if (result.code !== 0) throw new HostError(host.address, 'deliver', `tar exited ${result.code}: ${result.stderr.trim().split('\n').at(-1) ?? ''}`, 'tar says why; a full disk under /var/lib/sealbuild on the host is the usual cause');
  await run(host, 'deliver', `rm -rf ${shellQuote(dest)} && mv ${shellQuote(staging)} ${shellQuote(dest)}`);
  return true;
}

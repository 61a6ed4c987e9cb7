import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, type Header } from 'tar-stream';
import { z } from 'zod';
import { decompressFile, detectCompression } from '../layer/decompress.js';
import { HashingStream, digestHex, isDigest, sha256Digest, type Digest } from '../oci/digest.js';
import { Annotation, MediaType } from '../oci/media-types.js';
import { formatReference, parseReference } from '../oci/reference.js';
import { IndexSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import { manifestMediaType, type FetchedManifest } from '../registry/client.js';
import type { ImageSource } from '../transfer/pull.js';
import { UserError } from '../util/errors.js';
import { readSmallFile } from '../util/read-small-file.js';

/**
 * Container images that come as files, named as skopeo names them (containers-transports(5)):
 * `oci-archive:PATH[:REF]`, `oci:DIR[:REF]`, `docker-archive:PATH[:REF]`. Vendors ship images
 * as tarballs, and an airgapped site has no registry to pull them from.
 */
export const IMAGE_FILE_TRANSPORTS = ['oci-archive', 'oci', 'docker-archive'] as const;
export type ImageFileTransport = (typeof IMAGE_FILE_TRANSPORTS)[number];

export interface ImageFileSpec {
  transport: ImageFileTransport;
  /** As written: relative paths are resolved by the caller. */
  path: string;
  /** skopeo's REF: the `org.opencontainers.image.ref.name` (oci) or a RepoTag (docker-archive). */
  ref?: string;
}

const SPEC = /^(oci-archive|oci|docker-archive):([^:]*)(?::(.+))?$/;

/** The file an image list line names, or undefined when it names a registry image. */
export function parseImageFileSpec(text: string): ImageFileSpec | undefined {
  const match = SPEC.exec(text);
  if (!match) return undefined;
  if (match[2] === '') throw new UserError(`"${text}" names no file`, { hint: `write ${match[1]}:PATH[:REF]` });
  return { transport: match[1] as ImageFileTransport, path: match[2]!, ...(match[3] !== undefined ? { ref: match[3] } : {}) };
}

export function formatImageFileSpec(spec: ImageFileSpec): string {
  return `${spec.transport}:${spec.path}${spec.ref !== undefined ? `:${spec.ref}` : ''}`;
}

/** An image file opened for a pull: the name the cluster will pull it by, and its bytes. */
export interface OpenedImageFile {
  name: string;
  source: ImageSource;
}

/** Manifests and configs are small; a bound keeps a hostile file from filling memory. */
const MAX_SMALL = 4 * 1024 * 1024;
const BLOB_MEMBER = /^blobs\/sha256\/([a-f0-9]{64})$/;

/**
 * Opens the image a spec names, `file` being its resolved path and `scratch` an empty
 * directory the caller removes afterwards (archives are unpacked there). Nothing here is
 * trusted: every blob is checked against its digest as it is copied into the store.
 */
export async function openImageFile(spec: ImageFileSpec, file: string, scratch: string): Promise<OpenedImageFile> {
  const where = formatImageFileSpec(spec);
  try {
    switch (spec.transport) {
      case 'oci':
        return await openLayout(file, spec.ref, where);
      case 'oci-archive':
        await unpack(file, scratch, (name) => (isLayoutMember(name) ? name : undefined));
        return await openLayout(scratch, spec.ref, where);
      case 'docker-archive':
        return await openDockerArchive(await unpack(file, scratch, numberedMembers()), scratch, spec.ref, where);
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${where}: ${code === 'ENOENT' ? 'not found' : (err as Error).message}`, { hint: `give the path of an ${spec.transport === 'oci' ? 'OCI layout directory' : `${spec.transport} file`}` });
  }
}

/** Names every member but one that climbs out (`..`) member-0, member-1, …: a docker-archive's files go into scratch under these. */
function numberedMembers(): (name: string) => string | undefined {
  let count = 0;
  return (name) => (name.split('/').includes('..') ? undefined : `member-${count++}`);
}

function isLayoutMember(name: string): boolean {
  return name === 'oci-layout' || name === 'index.json' || BLOB_MEMBER.test(name);
}

/**
 * Every image of an archive, whichever of the two formats it is (`load`, which has no REF to
 * pick one): a docker-archive's images under each of their RepoTags (manifest.json is read
 * first: docker 25+ writes an OCI index too, whose ref names are bare tags), else an
 * oci-archive's under their ref names. Undefined when the archive is neither. Unpacked into
 * `scratch` as openImageFile does: layout members under their own names, every other file
 * as member-N, so no member lands outside it; every blob is checked as it is copied.
 */
export async function openImageArchive(file: string, scratch: string): Promise<OpenedImageFile[] | undefined> {
  const numbered = numberedMembers();
  const members = await unpack(file, scratch, (name) => (isLayoutMember(name) ? name : numbered(name)));
  if (members.has('manifest.json')) {
    const where = `docker-archive:${file}`;
    const entries = await dockerEntries(members, where);
    return entries.flatMap((entry) => {
      const tags = entry.RepoTags ?? [];
      if (tags.length === 0) throw new UserError(`${where}: the image with config ${entry.Config} has no RepoTags, so it would have no name in the store`, { hint: 'save it by name (docker save REPO:TAG, not by image ID); load has no flag to name it' });
      const source = dockerSource(entry, members, scratch, where);
      return tags.map((tag) => ({ name: imageName(tag, where), source }));
    });
  }
  if (!members.has('index.json')) return undefined;
  const where = `oci-archive:${file}`;
  return (await layoutEntries(scratch, where)).map((entry) => {
    if (entry.name === undefined) throw new UserError(`${where}: image ${entry.descriptor.digest} has no name (no ${Annotation.refName} in index.json)`, { hint: 'write the archive with the image\'s full name as its reference (skopeo copy … oci-archive:FILE:REGISTRY/REPO:TAG); load has no flag to name it' });
    return layoutImage(scratch, entry.descriptor, entry.name, where);
  });
}

/**
 * The name an image is cached under: the registry/ repository and tag the cluster pulls.
 * A bare tag (`v1`, as some tools write ref names) does not say which repository.
 */
function imageName(text: string, where: string): string {
  const last = text.slice(text.lastIndexOf('/') + 1);
  if (!last.includes(':') && !last.includes('@')) {
    throw new UserError(`${where}: the image is named "${text}", which is not REPOSITORY:TAG, so the cluster could not pull it by name`, { hint: 'write the file with the full name as its reference (sealbuild save REF, skopeo copy … oci-archive:FILE:REGISTRY/REPO:TAG)' });
  }
  try {
    return formatReference(parseReference(text));
  } catch (err) {
    throw new UserError(`${where}: "${text}" is not an image reference: ${(err as Error).message}`);
  }
}

function sameName(a: string, b: string): boolean {
  try {
    return formatReference(parseReference(a)) === formatReference(parseReference(b));
  } catch {
    return false;
  }
}

function readDocument(path: string, what: string): Promise<Buffer> {
  return readSmallFile(path, MAX_SMALL, what, 'this is not an image manifest or config');
}

/** The descriptors of a layout's index.json, each with its ref name if it has one. */
async function layoutEntries(dir: string, where: string): Promise<{ descriptor: Descriptor; name: string | undefined }[]> {
  const index = parseJson(IndexSchema, await readDocument(join(dir, 'index.json'), `${where}: index.json`), `${where}: index.json`);
  return index.manifests.map((descriptor) => ({ descriptor, name: descriptor.annotations?.[Annotation.refName] }));
}

/** An OCI image layout directory; `ref` picks a descriptor of index.json by its ref name. */
async function openLayout(dir: string, ref: string | undefined, where: string): Promise<OpenedImageFile> {
  const named = await layoutEntries(dir, where);
  const names = named.map((n) => n.name ?? n.descriptor.digest).join(', ') || 'nothing';
  let chosen;
  if (ref !== undefined) {
    chosen = named.find((n) => n.name === ref) ?? named.find((n) => n.name !== undefined && sameName(n.name, ref));
    if (!chosen) throw new UserError(`${where}: no image named "${ref}" (it holds ${names})`, { hint: 'name one of those after the path' });
  } else {
    if (named.length !== 1) throw new UserError(`${where}: holds ${named.length} images (${names})`, { hint: 'name one after the path, e.g. oci-archive:FILE:REGISTRY/REPO:TAG' });
    chosen = named[0]!;
  }
  const text = chosen.name;
  if (text === undefined) throw new UserError(`${where}: its image has no name (no ${Annotation.refName})`, { hint: 'write the file with the image\'s full name as its reference' });
  return layoutImage(dir, chosen.descriptor, text, where);
}

/** The image `top` of a layout, read from its blobs, named `text`. */
function layoutImage(dir: string, top: Descriptor, text: string, where: string): OpenedImageFile {
  const blobFile = (digest: Digest) => join(dir, 'blobs', 'sha256', digestHex(digest));
  return {
    name: imageName(text, where),
    source: {
      getManifest: async (wanted: string): Promise<FetchedManifest> => {
        const digest = isDigest(wanted) ? wanted : top.digest;
        const bytes = await readDocument(blobFile(digest), `${where}: manifest ${digest}`).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') throw new UserError(`${where}: blob ${digest} is missing`, { hint: 'the layout is incomplete; write it again' });
          throw err;
        });
        if (sha256Digest(bytes) !== digest) throw new UserError(`${where}: blob ${digest} does not match its digest`, { hint: 'the file is corrupt or was tampered with; nothing was stored' });
        return { bytes, mediaType: digest === top.digest ? top.mediaType : manifestMediaType(bytes), digest };
      },
      openBlob: (digest: Digest, _size: number, onBytes?: (n: number) => void) => readBlob(blobFile(digest), `${where}: blob ${digest}`, onBytes),
    },
  };
}

function readBlob(path: string, what: string, onBytes?: (n: number) => void): Readable {
  return Readable.from((async function* () {
    const stream = createReadStream(path);
    try {
      for await (const chunk of stream) {
        onBytes?.((chunk as Buffer).length);
        yield chunk as Buffer;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${what} is missing`, { hint: 'the image file is incomplete; write it again' });
      throw err;
    }
  })());
}

/**
 * Unpacks an archive (compressed or not) into `dir`: only the members `keep` names, written
 * under the name it returns, so no member can land outside `dir`. Returns what was kept.
 */
type Unpacked = Map<string, { path: string; digest: Digest; size: number }>;

async function unpack(file: string, dir: string, keep: (name: string) => string | undefined): Promise<Unpacked> {
  const head = Buffer.alloc(6);
  const handle = await open(file, 'r');
  const { bytesRead } = await handle.read(head, 0, head.length, 0).finally(() => handle.close());
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const kept: Unpacked = new Map();
  const reader = tarExtract();
  reader.on('entry', (header: Header, stream, next) => {
    const body = stream as unknown as Readable;
    const name = header.name.replace(/^(\.\/)+/, '');
    const target = header.type === 'file' ? keep(name) : undefined;
    if (target === undefined) {
      body.on('end', next).resume();
      return;
    }
    const hasher = new HashingStream();
    const path = join(dir, target);
    pipeline(body, hasher, createWriteStream(path)).then(
      () => {
        kept.set(name, { path, digest: hasher.digest(), size: hasher.size });
        next();
      },
      (err: unknown) => reader.destroy(err as Error),
    );
  });
  const input = decompressFile(file, detectCompression(head.subarray(0, bytesRead)));
  await pipeline(input, reader as unknown as Writable).catch((err: unknown) => {
    if (err instanceof UserError) throw err;
    throw new UserError(`${file}: not a readable tar archive: ${(err as Error).message}`);
  });
  return kept;
}

const DockerManifestSchema = z.array(z.looseObject({ Config: z.string(), RepoTags: z.array(z.string()).nullish(), Layers: z.array(z.string()) }));
type DockerEntry = z.infer<typeof DockerManifestSchema>[number];

/**
 * A `docker save` archive (unpacked: `members`): manifest.json names each image's config and
 * layer files; `ref` picks one by its RepoTags.
 */
async function openDockerArchive(members: Unpacked, scratch: string, ref: string | undefined, where: string): Promise<OpenedImageFile> {
  const entries = await dockerEntries(members, where);
  const tags = (entry: DockerEntry) => entry.RepoTags ?? [];
  let entry;
  if (ref !== undefined) {
    entry = entries.find((e) => tags(e).some((t) => t === ref || sameName(t, ref)));
    if (!entry) throw new UserError(`${where}: no image tagged "${ref}" (it holds ${entries.flatMap(tags).join(', ') || 'untagged images'})`);
  } else {
    if (entries.length !== 1) throw new UserError(`${where}: holds ${entries.length} images`, { hint: 'name one after the path: docker-archive:FILE:REPO:TAG' });
    entry = entries[0]!;
  }
  const text = ref ?? tags(entry)[0];
  if (text === undefined) throw new UserError(`${where}: its image has no RepoTags`, { hint: 'name it after the path: docker-archive:FILE:REPO:TAG' });
  return { name: imageName(text, where), source: dockerSource(entry, members, scratch, where) };
}

async function dockerEntries(members: Unpacked, where: string): Promise<DockerEntry[]> {
  const manifestFile = members.get('manifest.json');
  if (!manifestFile) throw new UserError(`${where}: no manifest.json`, { hint: 'a docker-archive is what `docker save` writes' });
  return parseJson(DockerManifestSchema, await readDocument(manifestFile.path, `${where}: manifest.json`), `${where}: manifest.json`);
}

/**
 * One manifest.json entry as an image source: an OCI manifest made from its config and layer
 * files (as skopeo does when it copies one), layers as they are in the file, their
 * compression read from their first bytes. Built when first asked for.
 */
function dockerSource(entry: DockerEntry, members: Unpacked, scratch: string, where: string): ImageSource {
  const member = (name: string) => {
    const found = members.get(name.replace(/^(\.\/)+/, ''));
    if (!found) throw new UserError(`${where}: manifest.json names ${name}, which the archive does not hold`);
    // docker 25+ and save name a file by its digest: a changed byte shows here (older archives have only the config's diff_ids).
    const named = BLOB_MEMBER.exec(name.replace(/^(\.\/)+/, ''));
    if (named && found.digest !== `sha256:${named[1]}`) throw new UserError(`${where}: member ${name} does not match its digest`, { hint: 'the archive is corrupt or was tampered with; nothing was stored' });
    return found;
  };
  const files = new Map<Digest, string>();
  const describe = async (name: string, mediaType: (head: Buffer) => string): Promise<Descriptor> => {
    const found = member(name);
    files.set(found.digest, found.path);
    const head = Buffer.alloc(6);
    const handle = await open(found.path, 'r');
    const { bytesRead } = await handle.read(head, 0, head.length, 0).finally(() => handle.close());
    return { mediaType: mediaType(head.subarray(0, bytesRead)), digest: found.digest, size: found.size };
  };
  let built: Promise<FetchedManifest> | undefined;
  const build = async (): Promise<FetchedManifest> => {
    const config = await describe(entry.Config, () => MediaType.ociConfig);
    const layers = [];
    for (const layer of entry.Layers) layers.push(await describe(layer, layerMediaType));
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers }));
    return { bytes, mediaType: MediaType.ociManifest, digest: sha256Digest(bytes) };
  };
  return {
    getManifest: () => (built ??= build()),
    openBlob: (blob: Digest, _size: number, onBytes?: (n: number) => void) => readBlob(files.get(blob) ?? join(scratch, 'absent'), `${where}: blob ${blob}`, onBytes),
  };
}

function layerMediaType(head: Buffer): string {
  switch (detectCompression(head)) {
    case 'gzip':
      return MediaType.ociLayerGzip;
    case 'zstd':
      return MediaType.ociLayerZstd;
    case 'none':
      return MediaType.ociLayer;
    default:
      throw new UserError('a layer of the docker-archive is compressed with bzip2 or xz, which images cannot use');
  }
}

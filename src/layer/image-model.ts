import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import { layerCompression } from '../oci/media-types.js';
import type { Descriptor, History } from '../oci/schemas.js';
import { UserError } from '../util/errors.js';
import { openLayer } from './layer-reader.js';

/*
 * The image model (go-containerregistry's v1.Layer and a mutable image): what every part of
 * sealbuild passes around once it has a layer, whoever made it (a build step, a base image,
 * a cache, a registry).
 */

/** One layer of an image. */
export interface Layer {
  /** The blob as the manifest lists it. */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar: what the config's rootfs.diff_ids lists. */
  diffId: Digest;
  /** The uncompressed tar, streamed from the blob and checked as layer-reader.ts checks every layer. */
  open(): Readable;
}

/**
 * A layer whose blob is the file `pathOf(digest)` (a build's batch or the store). `owner` names
 * what the layer belongs to in messages (`image docker.io/x/y:1`, `FROM x`).
 */
export function blobLayer(descriptor: Descriptor, diffId: Digest, pathOf: (digest: Digest) => string, owner: string): Layer {
  return {
    descriptor,
    diffId,
    open: () => openLayer(createReadStream(pathOf(descriptor.digest)), { digest: descriptor.digest, diffId, owner }, layerCompression(descriptor.mediaType)),
  };
}

/** The layers of an image's manifest and config, in order (each manifest layer with its diff_id). */
export function manifestLayers(layers: readonly Descriptor[], diffIds: readonly Digest[], pathOf: (digest: Digest) => string, owner: string): Layer[] {
  if (layers.length !== diffIds.length) {
    throw new UserError(`${owner}: its manifest lists ${layers.length} layers but its config ${diffIds.length} diff_ids`, { hint: 'the image is malformed; rebuild or pull it again' });
  }
  return layers.map((descriptor, i) => blobLayer(descriptor, diffIds[i]!, pathOf, owner));
}

/** An image being built: what its config and manifest will say. A stage and the runtime contract add to it. */
export interface ImageDraft {
  layers: Layer[];
  history: History[];
  env: Map<string, string>;
  labels: Map<string, string>;
  author: string | undefined;
}

import { z } from 'zod';
import { isDigest, type Digest } from '../oci/digest.js';
import { checkedJson } from '../oci/schemas.js';
import { redactedUrl } from '../util/redact-url.js';
import type { UrlSource } from './url-source.js';

/*
 * What a Kubefile downloaded into the image (ADD <url>, APP <url>), recorded in the image
 * config as one label so the SBOM can list each download with its checksum long after the
 * build: the layers hold the bytes but not where they came from. A label, not an annotation
 * or a layer: it changes the config (and so the digest) only of images that download, travels
 * wherever the image goes, and is inherited by images built FROM it, whose files it still
 * describes.
 */

export const DOWNLOADS_LABEL = 'io.sealbuild.downloads';

export interface RecordedDownload {
  /** Without user:password, query or fragment: those may carry credentials, which never go into an image. */
  url: string;
  /** What the content hashed to: the --checksum given, or what the download hashed to. */
  sha256: Digest;
  /** Where it went in the image, as the instruction wrote it (after variable expansion). */
  dest: string;
}

const DownloadsSchema = z.array(z.object({ url: z.string(), sha256: z.string().refine(isDigest).transform((d) => d as Digest), dest: z.string() }));

/** The downloads a label value lists; none when the label is absent or not what sealbuild writes (images are untrusted). */
export function recordedDownloads(value: string | undefined): RecordedDownload[] {
  return value === undefined ? [] : (checkedJson(DownloadsSchema, value) ?? []);
}

/** Adds a URL source to the label (kept once: a step that downloads the same thing again adds nothing); returns it. */
export function recordDownload(labels: Map<string, string>, source: UrlSource, dest: string): UrlSource {
  const entry = { url: redactedUrl(source.url), sha256: source.checksum ?? source.download!.digest, dest };
  const listed = recordedDownloads(labels.get(DOWNLOADS_LABEL));
  if (!listed.some((d) => d.url === entry.url && d.sha256 === entry.sha256 && d.dest === entry.dest)) labels.set(DOWNLOADS_LABEL, JSON.stringify([...listed, entry]));
  return source;
}

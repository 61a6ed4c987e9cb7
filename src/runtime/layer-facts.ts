/** What `images/registry.tar.gz` turned out to hold. */
export type ArchiveKind = 'oci' | 'docker' | 'placeholder' | 'invalid';

/**
 * What the runtime contract needs to know about one path of a rootfs: its kind and mode, the
 * ELF identity of files under the checked dirs, the bytes of the few small files that are
 * read (Metadata, registry links), and what the registry image archive holds. Never file
 * contents in general: a rootfs is gigabytes.
 */
export interface PathFacts {
  type: 'file' | 'directory' | 'symlink' | 'link';
  mode: number;
  size: number;
  linkname?: string;
  elf?: { machine: number; bits: 32 | 64; endian: 'little' | 'big' };
  /** base64 */
  content?: string;
  archive?: ArchiveKind;
  /** Hex digests of the files an SBOM lists (SBOM_FILE_DIRS, ELF files anywhere): SPDX 2.3 wants SHA1 beside SHA256. */
  sha256?: string;
  sha1?: string;
  /** What a Go binary says it was built from (go-buildinfo.ts). */
  go?: { go: string; path?: string; module?: string; version?: string };
}

/** One layer: what it adds and what it deletes (whiteouts), in the order a reader applies them. */
export interface LayerFacts {
  // Bumped whenever what a scan keeps changes (4: sealos' and sealer's files), so memos of
  // older scans are scanned again.
  version: 4;
  entries: Record<string, PathFacts>;
  removed: string[];
  opaque: string[];
}

/**
 * A layer-facts memo as read from the cache (`LayerFactsMemo`), or undefined when it is not
 * one (damaged, or from another version: scanned again). Checked by hand, not with zod: a memo
 * holds an entry per path of its layer and every rebuild reads them all, where zod took 75-90 ms
 * of CPU for the two big memos of the 1 GiB bench context (7,100 entries), a tenth of a no-op
 * rebuild. sealbuild writes these records itself, so what is checked is their shape, field by
 * field as `PathFacts` declares it.
 */
export function checkLayerFacts(json: unknown): LayerFacts | undefined {
  if (!isObject(json) || json.version !== 4 || !isObject(json.entries) || !isStrings(json.removed) || !isStrings(json.opaque)) return undefined;
  for (const facts of Object.values(json.entries)) if (!isPathFacts(facts)) return undefined;
  return json as unknown as LayerFacts;
}

const TYPES = new Set<unknown>(['file', 'directory', 'symlink', 'link']);
const ARCHIVES = new Set<unknown>(['oci', 'docker', 'placeholder', 'invalid']);

function isPathFacts(value: unknown): boolean {
  if (!isObject(value)) return false;
  const { type, mode, size, linkname, elf, content, archive, sha256, sha1, go } = value;
  return (
    TYPES.has(type) &&
    Number.isInteger(mode) &&
    Number.isInteger(size) &&
    (size as number) >= 0 &&
    optionalString(linkname) &&
    (elf === undefined || isElf(elf)) &&
    optionalString(content) &&
    (archive === undefined || ARCHIVES.has(archive)) &&
    optionalString(sha256) &&
    optionalString(sha1) &&
    (go === undefined || isGo(go))
  );
}

function isElf(value: unknown): boolean {
  return isObject(value) && Number.isInteger(value.machine) && (value.bits === 32 || value.bits === 64) && (value.endian === 'little' || value.endian === 'big');
}

function isGo(value: unknown): boolean {
  return isObject(value) && typeof value.go === 'string' && optionalString(value.path) && optionalString(value.module) && optionalString(value.version);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function optionalString(value: unknown): boolean {
  return value === undefined || typeof value === 'string';
}

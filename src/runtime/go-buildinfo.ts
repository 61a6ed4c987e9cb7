/**
 * The version a Go binary carries: `go build` writes a build-info blob into every binary
 * (the `.go.buildinfo` section, Go's debug/buildinfo reads it): a 32-byte header starting
 * with "\xff Go buildinf:" at a 16-byte aligned offset, then, since Go 1.18 (flag bit 2),
 * the Go version and the module information as varint-prefixed strings. The module text
 * has lines `path\tcmd/x` and `mod\t<module>\t<version>\t<sum>`.
 *
 * Found while a file streams past (no second read), bounded: the magic is searched in
 * each chunk with a short carry-over, and at most MAX_INFO_BYTES after it are kept.
 */
const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER_BYTES = 32;
const FLAG_VERSION_INLINE = 2;
const MAX_INFO_BYTES = 64 * 1024;

export interface GoBuildInfo {
  /** `go1.22.4` */
  go: string;
  /** The main package's import path (`cmd/helm`'s full path). */
  path?: string;
  /** The main module and its version (`(devel)` for a build from a checkout). */
  module?: string;
  version?: string;
}

export class GoBuildInfoFinder {
  private offset = 0;
  private carry = Buffer.alloc(0);
  private info: Buffer[] | undefined;
  private held = 0;

  push(chunk: Buffer): void {
    if (this.info !== undefined) {
      if (this.held < MAX_INFO_BYTES) {
        this.info.push(chunk);
        this.held += chunk.length;
      }
      return;
    }
    const window = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const windowStart = this.offset - this.carry.length;
    for (let at = window.indexOf(MAGIC); at !== -1; at = window.indexOf(MAGIC, at + 1)) {
      if ((windowStart + at) % 16 !== 0) continue;
      this.info = [window.subarray(at)];
      this.held = window.length - at;
      break;
    }
    this.offset += chunk.length;
    if (this.info === undefined) this.carry = Buffer.from(window.subarray(Math.max(0, window.length - (MAGIC.length - 1))));
  }

  result(): GoBuildInfo | undefined {
    return this.info === undefined ? undefined : parseBuildInfo(Buffer.concat(this.info).subarray(0, MAX_INFO_BYTES));
  }
}

function readVarint(bytes: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let shift = 0, i = at; i < bytes.length && shift < 35; i++, shift += 7) {
    value += (bytes[i]! & 0x7f) * 2 ** shift;
    if ((bytes[i]! & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}

function readBytes(bytes: Buffer, at: number): { value: Buffer; next: number } | undefined {
  const length = readVarint(bytes, at);
  if (length === undefined || length.next + length.value > bytes.length) return undefined;
  return { value: bytes.subarray(length.next, length.next + length.value), next: length.next + length.value };
}

/** Parses the blob from its magic on; binaries older than Go 1.18 (pointers, not inline strings) give undefined. */
export function parseBuildInfo(bytes: Buffer): GoBuildInfo | undefined {
  if (bytes.length < HEADER_BYTES || (bytes[15]! & FLAG_VERSION_INLINE) === 0) return undefined;
  const go = readBytes(bytes, HEADER_BYTES);
  const version = go?.value.toString('utf8');
  if (go === undefined || !version?.startsWith('go')) return undefined;
  const info: GoBuildInfo = { go: version };
  const mod = readBytes(bytes, go.next)?.value ?? Buffer.alloc(0);
  // The module text is framed by 16 sentinel bytes on each side.
  const framed = mod.length >= 33 && mod[mod.length - 17] === 0x0a;
  const text = (framed ? mod.subarray(16, mod.length - 16) : mod).toString('utf8');
  for (const line of text.split('\n')) {
    const [kind, a, b] = line.split('\t');
    if (kind === 'path' && a) info.path = a;
    if (kind === 'mod' && a) {
      info.module = a;
      if (b) info.version = b;
    }
  }
  return info;
}

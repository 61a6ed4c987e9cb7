/**
 * Re-cuts a byte stream into chunks of at least `min` bytes (copying only what is smaller), so
 * each stage downstream (hash threads, compressors, file writes) handles few large buffers
 * instead of many small ones: a file written in 64 KiB pieces costs about 1.7x the CPU of the
 * same bytes in 1 MiB pieces.
 */
export async function* coalesced(source: AsyncIterable<Buffer>, min: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    if (chunk.length >= min) {
      if (size > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
      parts = [];
      size = 0;
      yield chunk;
      continue;
    }
    parts.push(chunk);
    size += chunk.length;
    if (size >= min) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}

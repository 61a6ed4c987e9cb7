import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

/** fsyncs a directory so a rename inside it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A fresh temp name beside `target` (same filesystem, so rename is atomic). */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Writes a small file atomically: temp file + fsync + rename + directory fsync. `durable:
 * false` leaves out both fsyncs, for files whose loss in a power cut costs nothing (cache
 * records, which read as a miss when damaged): a killed process still leaves the old file or
 * the new one, and a pull of 30 images no longer waits for ~60 journal commits in a row.
 */
export async function writeFileAtomic(target: string, data: Buffer | string, mode = 0o644, options: { durable?: boolean } = {}): Promise<void> {
  const durable = options.durable ?? true;
  const tmp = tempPathFor(target);
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    if (durable) await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  // A target that is a directory, say: the temp file must not stay beside it.
  await rename(tmp, target).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
  if (durable) await syncDir(dirname(target));
}

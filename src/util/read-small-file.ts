import { open } from 'node:fs/promises';
import { UserError } from './errors.js';

/**
 * A file read whole into memory (a manifest, an index, a config), refused when it is larger
 * than `max`: a digest proves what a file is, not that it is small. The size is taken from the
 * open file, so it is the one read.
 */
export async function readSmallFile(path: string, max: number, what: string, hint: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > max) throw new UserError(`${what} is ${size} bytes, more than the ${max} sealbuild reads into memory`, { hint });
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

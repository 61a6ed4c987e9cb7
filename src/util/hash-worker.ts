import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/**
 * Worker side of util/hash-threads.ts: messages carry a hash id and either bytes to add
 * (handed back for reuse once hashed) or the end, answered with the hex digest, or that the
 * hash was given up.
 */
const hashes = new Map<number, Hash>();

parentPort!.on('message', ({ id, data, end, drop }: { id: number; data?: Uint8Array; end?: boolean; drop?: boolean }) => {
  if (drop) {
    hashes.delete(id);
    return;
  }
  let hash = hashes.get(id);
  if (hash === undefined) hashes.set(id, (hash = createHash('sha256')));
  if (data !== undefined) {
    hash.update(data);
    parentPort!.postMessage({ id, data }, [data.buffer as ArrayBuffer]);
  }
  if (end) {
    hashes.delete(id);
    parentPort!.postMessage({ id, digest: hash.digest('hex') });
  }
});

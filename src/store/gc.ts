import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pruneCache } from '../cache/prune.js';
import type { Digest } from '../oci/digest.js';
import { isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import { IndexSchema, ManifestSchema, type Descriptor } from '../oci/schemas.js';
import { UserError } from '../util/errors.js';
import { removeTree } from '../util/remove-tree.js';
import { processAlive, withLock } from './lock.js';
import type { Store } from './store.js';

const WAIT_MS = 60_000;

/*
 * Writers (build, pull, load, manifest create/add) and prune exclude each other through lease
 * files in ROOT/leases: a writer holds `build-<pid>-<random>` for its whole run, prune holds
 * `prune-<pid>`. Since every writer of ROOT/tmp holds one, what prune finds there was left
 * by a process that died. A build reuses blobs
 * that no tag may reference yet (cache hits, a base image's layers), and its own blobs are
 * untagged between the batch's commit and the tag update; prune must not run in between.
 * Each side writes its own file before looking for the other's, so of two that start at
 * once at least one sees the other and steps back. Files of dead processes are ignored.
 */

function leaseDir(store: Store): string {
  return join(store.root, 'leases');
}

/** Live leases of `kind` other than `own`: their pids. */
async function liveLeases(store: Store, kind: 'build' | 'prune', own: string): Promise<number[]> {
  const names = await readdir(leaseDir(store)).catch(() => [] as string[]);
  const pids: number[] = [];
  for (const name of names) {
    if (name === own || !name.startsWith(`${kind}-`)) continue;
    const pid = Number.parseInt(name.split('-')[1] ?? '', 10);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) pids.push(pid);
    else await unlink(join(leaseDir(store), name)).catch(() => undefined);
  }
  return pids;
}

/** `waiting` hears once, with the other processes' pids, that the lease is not free yet. */
async function takeLease(store: Store, kind: 'build' | 'prune', waitFor: 'build' | 'prune', busy: (pid: number) => UserError, waiting?: (pids: number[]) => void): Promise<string> {
  await mkdir(leaseDir(store), { recursive: true });
  const name = `${kind}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const file = join(leaseDir(store), name);
  const deadline = Date.now() + WAIT_MS;
  let told = false;
  for (;;) {
    await writeFile(file, String(process.pid), { flag: 'wx' });
    const others = await liveLeases(store, waitFor, name);
    if (others.length === 0) return file;
    await unlink(file);
    if (!told) waiting?.(others);
    told = true;
    if (Date.now() > deadline) throw busy(others[0]!);
    await sleep(50 + Math.random() * 50);
  }
}

/** Runs a build (or anything that writes blobs and then tags) so that no prune overlaps it. */
export async function withBuildLease<T>(store: Store, fn: () => Promise<T>): Promise<T> {
  const file = await takeLease(store, 'build', 'prune', (pid) => new UserError(`sealbuild prune (process ${pid}) is still running on the store at ${store.root}`, { hint: 'wait for it to finish, then run the command again' }));
  try {
    return await fn();
  } finally {
    await unlink(file).catch(() => undefined);
  }
}

export interface PruneResult {
  blobs: number;
  bytes: number;
  cacheEntries: number;
}

/**
 * Removes every blob no tag reaches (through indexes, manifests, configs and layers), then
 * prunes the caches (cache/prune.ts: the build cache whole, the blob records whose
 * blob is gone). Waits for
 * running builds to finish first, and holds the index lock, so no tag moves meanwhile.
 * Blobs of a build still in progress are in ROOT/tmp, not in the layout, so never seen here.
 */
export async function prune(store: Store, options: { waiting?: (message: string) => void } = {}): Promise<PruneResult> {
  const lease = await takeLease(
    store, 'prune', 'build',
    (pid) => new UserError(`a build (process ${pid}) is running on the store at ${store.root}`, { hint: 'run sealbuild prune when it has finished' }),
    (pids) => options.waiting?.(`waiting for sealbuild ${pids.length === 1 ? 'process' : 'processes'} ${pids.join(', ')} (build, pull, load or manifest write) to finish with the store at ${store.root} (at most ${WAIT_MS / 1000}s)`),
  );
  try {
    return await withLock(join(store.root, 'index.lock'), async () => {
      const reachable = await reachableBlobs(store);
      const blobsDir = join(store.layoutDir, 'blobs', 'sha256');
      let blobs = 0;
      let bytes = 0;
      for (const hex of await readdir(blobsDir)) {
        if (reachable.has(`sha256:${hex}`)) continue;
        const path = join(blobsDir, hex);
        bytes += (await lstat(path)).size;
        await rm(path, { force: true });
        blobs += 1;
      }
      const cacheEntries = await pruneCache(store.root, (digest) => store.hasBlob(digest));
      await removeLeftovers(store);
      return { blobs, bytes, cacheEntries };
    });
  } finally {
    await unlink(lease).catch(() => undefined);
  }
}

/** What killed builds, loads and pulls left in ROOT/tmp (staged blobs, scratch directories). */
async function removeLeftovers(store: Store): Promise<void> {
  const tmp = join(store.root, 'tmp');
  for (const name of await readdir(tmp).catch(() => [] as string[])) await removeTree(join(tmp, name));
}

/** Every blob reachable from the tags in index.json. Children an index lists but the store lacks (platforms not pulled) are skipped. */
async function reachableBlobs(store: Store): Promise<Set<Digest>> {
  const reachable = new Set<Digest>();
  const visit = async (descriptor: Descriptor): Promise<void> => {
    if (reachable.has(descriptor.digest)) return;
    reachable.add(descriptor.digest);
    if (!(await store.hasBlob(descriptor.digest))) return;
    if (isIndexMediaType(descriptor.mediaType)) {
      for (const child of (await store.readJson(IndexSchema, descriptor.digest)).manifests) await visit(child);
    } else if (isManifestMediaType(descriptor.mediaType)) {
      const manifest = await store.readJson(ManifestSchema, descriptor.digest);
      reachable.add(manifest.config.digest);
      for (const layer of manifest.layers) reachable.add(layer.digest);
      if (manifest.subject) await visit(manifest.subject);
    }
  };
  for (const descriptor of (await store.readIndex()).manifests) await visit(descriptor);
  return reachable;
}


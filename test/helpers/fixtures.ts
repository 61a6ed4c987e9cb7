import { rmSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from './cli.js';

/*
 * Fixtures several test files make the same way and never change (the registry image, the
 * installer tests' ClusterImages, the single executable). scripts/test-suite.mjs names a directory
 * for one run in SEALBUILD_TEST_FIXTURES: each fixture is made there once, by the first file that
 * asks, for every file on both Nodes. A file run alone (`node --test FILE`) makes its own, once
 * per process, in a temporary directory removed when the process exits.
 */

const made = new Map<string, Promise<string>>();
let ownDir: string | undefined;

/**
 * The directory holding fixture `key` (a file name), made by `make(dir)` into an empty directory
 * if no file of this run has made it yet. Callers only read it.
 */
export function sharedFixture(key: string, make: (dir: string) => Promise<void>): Promise<string> {
  let dir = made.get(key);
  if (dir === undefined) {
    dir = process.env.SEALBUILD_TEST_FIXTURES ? madeOnce(join(process.env.SEALBUILD_TEST_FIXTURES, key), make) : madeHere(key, make);
    made.set(key, dir);
  }
  return dir;
}

async function madeHere(key: string, make: (dir: string) => Promise<void>): Promise<string> {
  if (ownDir === undefined) {
    const dir = await tempDir('sealbuild-fixtures-');
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    ownDir = dir;
  }
  const dir = join(ownDir, key);
  await mkdir(dir);
  await make(dir);
  return dir;
}

/**
 * Made by whichever process takes `dir`.lock first (a directory holding its pid); the others
 * wait for `dir` to appear, the rename that ends the making, and take over a lock whose
 * process is gone.
 */
async function madeOnce(dir: string, make: (dir: string) => Promise<void>): Promise<string> {
  const lock = `${dir}.lock`;
  for (;;) {
    if (await exists(dir)) return dir;
    try {
      await mkdir(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => '0'));
      if (holder > 0 && !alive(holder)) await rm(lock, { recursive: true, force: true });
      else await sleep(200);
      continue;
    }
    try {
      await writeFile(join(lock, 'pid'), String(process.pid));
      if (await exists(dir)) return dir;
      const partial = `${dir}.partial`;
      await rm(partial, { recursive: true, force: true });
      await mkdir(partial);
      await make(partial);
      await rename(partial, dir);
      return dir;
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

import { spawnSync } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { combine, measure, type Timed } from './measure.js';
// The bundled bin (package.json "bin"), as users and the tests run it, not dist/src/cli/main.js:
// a no-op rebuild spent about 0.15 CPU-seconds more loading the unbundled modules.
import { cliCommand } from '../test/helpers/cli.js';

export interface Outcome extends Timed {
  /** Bytes written: the layers, or the compressed file. */
  outputBytes: number;
  /** The image digest, where there is one: equal digests across runs show determinism. */
  digest?: string;
}

export interface BenchContext {
  work: string;
  contextDir: string;
  /** The context as one tar (GNU tar, sorted): what pigz and zstd compress. */
  contextTar: string;
  cores: number;
}

interface Inspected {
  digest: string;
  manifest: { layers: { size: number }[] };
}

/** A sealbuild build under /usr/bin/time, with its image digest and layer bytes. */
async function sealbuild(root: string, compression: string, ctx: BenchContext, flags: string[] = [], nodeFlags: string[] = []): Promise<Outcome> {
  const args = ['--root', root, '--progress', 'quiet', 'build', '-t', `bench/k3s:${compression}`, '--compression', compression, ...flags, ctx.contextDir];
  const measured = await measure(...cliCommand(args, nodeFlags), { env: { ...process.env, SOURCE_DATE_EPOCH: '0' } });
  const inspected = spawnSync(...cliCommand(['--root', root, 'inspect', '--json', `bench/k3s:${compression}`]), { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (inspected.status !== 0) throw new Error(`sealbuild inspect failed: ${inspected.stderr}`);
  const info = JSON.parse(inspected.stdout) as Inspected;
  return { ...measured, outputBytes: info.manifest.layers.reduce((sum, l) => sum + l.size, 0), digest: info.digest };
}

/**
 * Cold gzip build into a fresh store; the same build with --no-cache (every layer tarred and
 * hashed again, each found compressed already by its diff_id); the same build again (the
 * layer cache answers every step).
 */
export async function sealbuildGzip(ctx: BenchContext, run: number): Promise<{ cold: Outcome; noCache: Outcome; noop: Outcome }> {
  const root = join(ctx.work, `sealbuild-gzip-${run}`);
  try {
    const cold = await sealbuild(root, 'gzip', ctx);
    const noCache = await sealbuild(root, 'gzip', ctx, ['--no-cache']);
    const noop = await sealbuild(root, 'gzip', ctx);
    return { cold, noCache, noop };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export async function sealbuildZstd(ctx: BenchContext, run: number): Promise<Outcome> {
  return coldBuild(ctx, 'zstd', run);
}

/** A build into an empty store (`--no-cache` too, as issue 16 measured it), the store removed after. */
export async function coldBuild(ctx: BenchContext, compression: 'none' | 'gzip' | 'zstd', run: number, simulatedCores?: number): Promise<Outcome> {
  const root = join(ctx.work, `sealbuild-${compression}-${run}`);
  try {
    return await sealbuild(root, compression, ctx, ['--no-cache'], simulatedCores === undefined ? [] : ['--import', coresOverride(simulatedCores)]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * A preload that makes the CLI see `cores` cores (os.availableParallelism, which sizes the
 * gzip workers and zstd's -T), so the memory of a many-core runner can be measured here.
 * syncBuiltinESMExports carries the change into the named imports of node:os.
 */
function coresOverride(cores: number): string {
  const code = `import os from 'node:os'; import { syncBuiltinESMExports } from 'node:module'; os.availableParallelism = () => ${cores}; syncBuiltinESMExports();`;
  return `data:text/javascript,${encodeURIComponent(code)}`;
}

/** `sha256sum` of the context tar: the limit for an uncompressed layer, which is hashed once. */
export async function sha256sum(ctx: BenchContext): Promise<Outcome> {
  return { ...(await measure('sha256sum', [ctx.contextTar])), outputBytes: 0 };
}

/**
 * `buildah bud` then `buildah push` to an OCI layout, from empty storage each time. vfs is the
 * storage driver that works in a container without fuse-overlayfs; chroot isolation needs no
 * user namespaces (and this Kubefile has no RUN anyway).
 */
export async function buildah(ctx: BenchContext, run: number): Promise<Outcome & { mediaType: string }> {
  const dir = join(ctx.work, `buildah-${run}`);
  const storage = ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs'];
  const layout = join(dir, 'layout');
  try {
    const bud = await measure('buildah', [...storage, 'bud', '--isolation', 'chroot', '-q', '-f', join(ctx.contextDir, 'Kubefile'), '-t', 'localhost/bench:gzip', ctx.contextDir]);
    const push = await measure('buildah', [...storage, 'push', '-q', 'localhost/bench:gzip', `oci:${layout}:bench`]);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifestDigest = index.manifests[0]!.digest;
    const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8')) as { layers: { size: number; mediaType: string }[] };
    return {
      ...combine(bud, push),
      outputBytes: manifest.layers.reduce((sum, l) => sum + l.size, 0),
      mediaType: [...new Set(manifest.layers.map((l) => l.mediaType))].join(', '),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A plain compressor on the context tar: the practical limit for the same bytes. */
export async function compressTool(ctx: BenchContext, tool: 'pigz' | 'zstd'): Promise<Outcome> {
  const out = join(ctx.work, `context.tar.${tool}`);
  const args = tool === 'pigz' ? ['-p', String(ctx.cores), '-c', ctx.contextTar] : ['-3', `-T${ctx.cores}`, '-q', '-c', ctx.contextTar];
  try {
    const measured = await measure(tool, args, { stdoutFile: out });
    return { ...measured, outputBytes: (await stat(out)).size };
  } finally {
    await rm(out, { force: true });
  }
}

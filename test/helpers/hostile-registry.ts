import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import assert from 'node:assert/strict';
import { CLI, snapshot, type RunResult } from './cli.js';
import { sharedFixture } from './fixtures.js';

/**
 * A registry that lies, stalls and floods, on loopback, for the tests of issue #19. It serves
 * what a test puts in `routes` (exact paths) and answers 404 to anything else. Every attack is
 * bounded here too, so a test of code that does not defend itself still ends: a stream stops
 * after MAX_STREAM_BYTES, a stall or trickle after MAX_ATTACK_MS, and the server stops itself
 * after LIFETIME_MS even if the test forgets stop().
 */
export const MAX_STREAM_BYTES = 256 * 1024 * 1024;
export const MAX_ATTACK_MS = 150_000;
const LIFETIME_MS = 10 * 60_000;
const CHUNK = Buffer.alloc(64 * 1024);

/** What the server does with one request. */
export type Responder =
  /** Answers `body` (Content-Length set), with `status` (200) and `headers`. */
  | { serve: Buffer | string; status?: number; headers?: Record<string, string> }
  /** Headers, then zeros without end (chunked, or a Content-Length that is a lie). */
  | { endless: true; status?: number; headers?: Record<string, string> }
  /** Accepts the request and never answers. */
  | { silent: true }
  /** Headers (Content-Length of `body`, `status` 200), then one byte of `body` every `everyMs`. */
  | { trickle: Buffer | string; everyMs: number; status?: number; headers?: Record<string, string> }
  /** Headers with `body`'s Content-Length, the first `sendBytes` bytes, then silence. */
  | { stallAfter: number; body: Buffer | string; headers?: Record<string, string> }
  /** Headers with `body`'s Content-Length, the first `sendBytes` bytes, then the connection closes. */
  | { truncateAfter: number; body: Buffer | string; headers?: Record<string, string> }
  /** A redirect to `location` (resolved against this server's URL when relative). */
  | { redirect: string; status?: number }
  /** `then`, after a pause of `delayMs` (at most MAX_ATTACK_MS). */
  | { delayMs: number; then: Responder };

/** Responders per path, or per `METHOD /path` for one method; a list is used in turn (the last one repeats). */
export type Routes = Record<string, Responder | Responder[]>;

export interface HostileRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  routes: Routes;
  /** Requests per path (with the method, e.g. `GET /v2/`), and body bytes sent per path. */
  requests: Map<string, number>;
  /** The most requests per path (with the method) that were open at once. */
  mostAtOnce: Map<string, number>;
  sent: Map<string, number>;
  /** Authorization headers received, with the path they came on. */
  authorizations: { path: string; authorization: string }[];
  stop(): Promise<void>;
}

export async function startHostileRegistry(routes: Routes = {}): Promise<HostileRegistry> {
  const requests = new Map<string, number>();
  const open = new Map<string, number>();
  const mostAtOnce = new Map<string, number>();
  const sent = new Map<string, number>();
  const authorizations: { path: string; authorization: string }[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let url = '';

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    timers.add(timer);
    return timer;
  };

  const respond = (req: IncomingMessage, res: ServerResponse, path: string, r: Responder): void => {
    const count = (n: number): void => void sent.set(path, (sent.get(path) ?? 0) + n);
    if ('serve' in r) {
      const body = Buffer.from(r.serve);
      res.writeHead(r.status ?? 200, { 'content-length': String(body.length), ...r.headers });
      count(body.length);
      res.end(req.method === 'HEAD' ? undefined : body);
    } else if ('endless' in r) {
      res.writeHead(r.status ?? 200, { 'content-type': 'application/octet-stream', ...r.headers });
      const started = Date.now();
      let total = 0;
      const pump = (): void => {
        while (!res.destroyed) {
          if (total >= MAX_STREAM_BYTES || Date.now() - started > MAX_ATTACK_MS) return void res.destroy();
          total += CHUNK.length;
          count(CHUNK.length);
          if (!res.write(CHUNK)) return void res.once('drain', pump);
        }
      };
      pump();
    } else if ('silent' in r) {
      later(MAX_ATTACK_MS, () => res.destroy());
    } else if ('trickle' in r) {
      const body = Buffer.from(r.trickle);
      res.writeHead(r.status ?? 200, { 'content-length': String(body.length), ...r.headers });
      const started = Date.now();
      let i = 0;
      const tick = (): void => {
        if (res.destroyed) return;
        if (i >= body.length) return void res.end();
        if (Date.now() - started > MAX_ATTACK_MS) return void res.destroy();
        count(1);
        res.write(body.subarray(i, ++i));
        later(r.everyMs, tick);
      };
      tick();
    } else if ('stallAfter' in r || 'truncateAfter' in r) {
      const body = Buffer.from(r.body);
      const n = 'stallAfter' in r ? r.stallAfter : r.truncateAfter;
      res.writeHead(200, { 'content-length': String(body.length), ...r.headers });
      count(n);
      res.write(body.subarray(0, n), () => {
        if ('truncateAfter' in r) res.socket?.destroy();
        else later(MAX_ATTACK_MS, () => res.destroy());
      });
    } else if ('delayMs' in r) {
      later(Math.min(r.delayMs, MAX_ATTACK_MS), () => respond(req, res, path, r.then));
    } else {
      res.writeHead(r.status ?? 302, { location: new URL(r.redirect, url).toString(), 'content-length': '0' });
      res.end();
    }
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const key = `${req.method} ${path}`;
    const n = requests.get(key) ?? 0;
    requests.set(key, n + 1);
    open.set(key, (open.get(key) ?? 0) + 1);
    mostAtOnce.set(key, Math.max(mostAtOnce.get(key) ?? 0, open.get(key)!));
    res.on('close', () => open.set(key, open.get(key)! - 1));
    if (req.headers.authorization) authorizations.push({ path, authorization: req.headers.authorization });
    req.resume();
    const route = routes[key] ?? routes[path];
    const responder = Array.isArray(route) ? route[Math.min(n, route.length - 1)] : route;
    if (!responder) {
      const body = JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: `no ${path} here` }] });
      res.writeHead(404, { 'content-type': 'application/json', 'content-length': String(body.length) });
      return void res.end(body);
    }
    respond(req, res, path, responder);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const { port } = server.address() as AddressInfo;
  url = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })());
  later(LIFETIME_MS, () => void stop());
  return { host: `127.0.0.1:${port}`, url, routes, requests, mostAtOnce, sent, authorizations, stop };
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** An uncompressed tar of `files` (name -> content), with fixed metadata. */
export async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const archive = pack();
  for (const [name, content] of Object.entries(files)) archive.entry({ name, mode: 0o644, mtime: new Date(0) }, Buffer.from(content));
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface TestImage {
  /** Path in the registry, e.g. `hostile/app`. */
  repo: string;
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  /** Compressed layer blobs as served, with their digests. */
  layers: { blob: Buffer; digest: string; diffId: string }[];
}

/**
 * A single-platform image (linux/amd64 unless told): each layer is `tars[i]` gzipped (or
 * `blobs[i]` as is, with diff_id `diffIds[i]`), and the config lists `diffIds` (default: the
 * true ones).
 */
export function makeImage(options: { repo?: string; tars?: Buffer[]; blobs?: Buffer[]; diffIds?: string[]; architecture?: string; configExtra?: Record<string, unknown>; layerCount?: number }): TestImage {
  const repo = options.repo ?? 'hostile/app';
  const blobs = options.blobs ?? (options.tars ?? []).map((t) => gzipSync(t));
  const layers = blobs.map((blob, i) => ({ blob, digest: sha256(blob), diffId: options.diffIds?.[i] ?? sha256(options.tars?.[i] ?? blob) }));
  const config = Buffer.from(JSON.stringify({
    architecture: options.architecture ?? 'amd64', os: 'linux', config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    ...options.configExtra,
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.blob.length })),
  }));
  return { repo, manifest, manifestDigest: sha256(manifest), config, configDigest: sha256(config), layers };
}

export const MANIFEST_HEADERS = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
export const INDEX_HEADERS = { 'content-type': 'application/vnd.oci.image.index.v1+json' };

/** An index whose `count` children all name `child` (so one route serves them all), each with another platform. */
export function indexOf(child: TestImage, count: number): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: Array.from({ length: count }, (_, i) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: child.manifestDigest, size: child.manifest.length,
      platform: { os: 'linux', architecture: 'amd64', variant: `v${i}` },
    })),
  }));
}

/** Routes that serve `image` honestly under tag `tag`; a test then replaces the one it attacks. */
export function imageRoutes(image: TestImage, tag = '1'): Routes {
  const routes: Routes = {
    '/v2/': { serve: '{}' },
    [`/v2/${image.repo}/manifests/${tag}`]: { serve: image.manifest, headers: MANIFEST_HEADERS },
    [`/v2/${image.repo}/manifests/${image.manifestDigest}`]: { serve: image.manifest, headers: MANIFEST_HEADERS },
    [`/v2/${image.repo}/blobs/${image.configDigest}`]: { serve: image.config },
  };
  for (const layer of image.layers) routes[`/v2/${image.repo}/blobs/${layer.digest}`] = { serve: layer.blob };
  return routes;
}

export interface MeasuredRun extends RunResult {
  /** Wall time of the command. */
  ms: number;
  /** Peak resident set size of the sealbuild process, from /usr/bin/time. */
  peakRssMb: number;
}

/** The most a test lets a command run before it kills it (a defended attack ends far sooner). */
const KILL_AFTER_MS = 180_000;

/**
 * Runs `sealbuild ARGS` under /usr/bin/time (peak RSS of the child) with a wall clock; kills it
 * after KILL_AFTER_MS so a test of an undefended attack still ends (and fails).
 */
export async function runMeasured(root: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<MeasuredRun> {
  const rssFile = join(root, '..', `rss-${process.pid}-${Date.now()}`);
  const started = Date.now();
  const result = await new Promise<RunResult>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, CLI, '--root', root, '--progress', 'plain', ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, SOURCE_DATE_EPOCH: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own: killing /usr/bin/time alone would leave sealbuild running,
      // holding the pipes open, and the test waiting on it.
      detached: true,
    });
    const killer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), KILL_AFTER_MS);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
  const ms = Date.now() - started;
  const text = await readFile(rssFile, 'utf8').catch(() => '');
  await rm(rssFile, { force: true });
  // /usr/bin/time writes "Command exited with non-zero status N" before the figure.
  const kb = Number(text.trim().split('\n').pop());
  const run = { ...result, ms, peakRssMb: Number.isFinite(kb) ? kb / 1024 : Number.NaN };
  await record(args, run);
  return run;
}

/**
 * Puts `image` into the store at `root` by hand (blobs and an index.json entry tagged `name`),
 * as a store holding a damaged or lying image would look: nothing checks it on the way in.
 */
export async function plantImage(root: string, image: TestImage, name: string): Promise<void> {
  const blobs = join(root, 'oci', 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  for (const [digest, bytes] of [[image.manifestDigest, image.manifest], [image.configDigest, image.config], ...image.layers.map((l) => [l.digest, l.blob] as const)] as const) {
    await writeFile(join(blobs, digest.slice('sha256:'.length)), bytes);
  }
  const indexFile = join(root, 'oci', 'index.json');
  const index = JSON.parse(await readFile(indexFile, 'utf8')) as { manifests: object[] };
  index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest, size: image.manifest.length, annotations: { 'org.opencontainers.image.ref.name': name } });
  await writeFile(indexFile, JSON.stringify(index));
}

/**
 * A gzipped tar holding one file of `bytes` zeros (a decompression bomb when large); returns the
 * blob and the tar's sha256 (its diff_id). Made once per run (7 CPU-s for 1100 MiB at level 9).
 */
export async function zeroBomb(bytes: number): Promise<{ blob: Buffer; diffId: string }> {
  const dir = await sharedFixture(`zero-bomb-${bytes}`, async (dir) => {
    const bomb = await makeZeroBomb(bytes);
    await writeFile(join(dir, 'blob'), bomb.blob);
    await writeFile(join(dir, 'diff_id'), bomb.diffId);
  });
  return { blob: await readFile(join(dir, 'blob')), diffId: await readFile(join(dir, 'diff_id'), 'utf8') };
}

/** zeroBomb's making, as a stream so the tar is never in memory. */
async function makeZeroBomb(bytes: number): Promise<{ blob: Buffer; diffId: string }> {
  const archive = pack();
  const gzip = createGzip({ level: 9 });
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  gzip.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  archive.on('data', (c: unknown) => void hash.update(c as Buffer));
  archive.pipe(gzip);
  const entry = archive.entry({ name: 'zeros', size: bytes, mode: 0o644, mtime: new Date(0) });
  const zeros = Buffer.alloc(1024 * 1024);
  let left = bytes;
  for (; left > zeros.length; left -= zeros.length) {
    if (!entry.write(zeros)) await new Promise<void>((resolve) => entry.once('drain', () => resolve()));
  }
  entry.end(zeros.subarray(0, left));
  archive.finalize();
  await done;
  return { blob: Buffer.concat(chunks), diffId: `sha256:${hash.digest('hex')}` };
}

const MAX_RSS_MB = 300;

/**
 * HOSTILE_DEFAULTS=1 runs every attack with sealbuild's default settings, as the bound
 * (two minutes an attack) is stated: no `--timeout 2`, so each timeout is 30 s and the attacks
 * that wait for one take about a minute. Too slow for the default suite; the figures it measured
 * are in docs/formats.md ("Hostile registries").
 */
export const WITH_DEFAULTS = process.env.HOSTILE_DEFAULTS === '1';
/** The --timeout the attacks run with, in seconds, and the arguments that set it. */
export const ATTACK_TIMEOUT_S = WITH_DEFAULTS ? 30 : 2;
export const TIMEOUT_ARGS: readonly string[] = WITH_DEFAULTS ? [] : ['--timeout', String(ATTACK_TIMEOUT_S)];

/**
 * How long a refused attack may take in these tests: with the defaults, the two minutes;
 * with `--timeout 2`, those less a margin. Loose on purpose: on a loaded 2-core machine or CI,
 * starting the CLI alone can take seconds, and the time is not what tells a defended attack from
 * an undefended one (that runs until the server's MAX_ATTACK_MS or the KILL_AFTER_MS kill, or is
 * caught by its message, request counts or RSS).
 */
export const ATTACK_BOUND_MS = WITH_DEFAULTS ? 120_000 : 100_000;

/** HOSTILE_MEASURE=FILE appends one JSON line per measured run (arguments, exit, ms, peak RSS). */
async function record(args: string[], run: MeasuredRun): Promise<void> {
  const file = process.env.HOSTILE_MEASURE;
  if (!file) return;
  const error = run.stderr.split('\n').find((line) => line.startsWith('Error: '));
  await appendFile(file, `${JSON.stringify({ args: args.join(' '), code: run.code, ms: run.ms, peakRssMb: Math.round(run.peakRssMb), error })}\n`);
}

/**
 * Runs `sealbuild ARGS` on the store at `root` and checks all a refused attack must give: exit
 * 1, one error line (the last) matching `message`, no stack trace or bug hint, the store as it
 * was with ROOT/tmp empty, within `maxMs` (ATTACK_BOUND_MS unless said), and a peak RSS under 300 MB.
 */
export async function expectRefused(root: string, args: string[], message: RegExp, maxMs = ATTACK_BOUND_MS, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<MeasuredRun> {
  const before = await snapshot(root);
  const run = await runMeasured(root, args, options);
  const detail = `exit ${run.code} after ${run.ms} ms, ${run.peakRssMb.toFixed(0)} MB\n${run.stderr.slice(-2000)}`;
  assert.equal(run.code, 1, detail);
  const errors = run.stderr.split('\n').filter((line) => line.startsWith('Error: '));
  assert.equal(errors.length, 1, detail);
  assert.ok(run.stderr.trimEnd().endsWith(errors[0]!), `the error is the last line\n${detail}`);
  assert.match(errors[0]!, message, detail);
  assert.doesNotMatch(run.stderr, /^\s+at /m, `no stack trace\n${detail}`);
  assert.doesNotMatch(run.stderr, /looks like a bug/, detail);
  assert.ok(run.ms < maxMs, `took ${run.ms} ms, more than ${maxMs}`);
  assert.ok(run.peakRssMb < MAX_RSS_MB, `peak RSS ${run.peakRssMb} MB`);
  assert.deepEqual(await snapshot(root), before, 'the store is as it was');
  assert.deepEqual(await readdir(join(root, 'tmp')), [], 'ROOT/tmp is empty');
  return run;
}

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bundled CLI (what the package's bin is), run the way a user runs it. */
export const CLI = fileURLToPath(new URL('../../cli/sealbuild.cjs', import.meta.url));
let shebang: { env: string; words: string[] } | undefined;
/**
 * The command line that runs `sealbuild ARGS` as the installed bin does, on this process's
 * Node: the kernel runs the bin's shebang (`#!/usr/bin/env -S WORDS`) as `env '-S WORDS' BIN
 * ARGS`; this does the same with `node` in WORDS made this Node, and `nodeFlags` after its flags
 * (env puts the arguments that follow the -S string after its words).
 */
export function cliCommand(args: string[], nodeFlags: string[] = []): [string, string[]] {
  if (!shebang) {
    const line = readFileSync(CLI, 'utf8').split('\n', 1)[0]!;
    const parsed = /^#!(\S+) -S (.*)$/.exec(line);
    if (!parsed || !parsed[2]!.split(/\s+/).includes('node')) throw new Error(`${CLI}: its first line is not \`#!/usr/bin/env -S … node …\`: ${line}`);
    shebang = { env: parsed[1]!, words: parsed[2]!.split(/\s+/).map((w) => (w === 'node' ? process.execPath : w)) };
  }
  // After the -S string, not in it: env -S would strip the quotes of a flag such as --import data:…'node:os'….
  return [shebang.env, [`-S ${shebang.words.join(' ')}`, ...nodeFlags, CLI, ...args]];
}
/** The repository root (tests are compiled to dist/test/). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `sealbuild ARGS` with `--root root`; never throws on a non-zero exit. `offline` runs it
 * in a network namespace of its own (`unshare -n`: loopback only), so nothing can reach a registry.
 */
export function sealbuild(root: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; offline?: boolean; input?: string } = {}): Promise<RunResult> {
  const [node, argv] = cliCommand(['--root', root, '--progress', 'plain', ...args]);
  const command = [node, ...argv];
  if (options.offline) command.unshift('unshare', '-n');
  return spawnCollect(command[0]!, command.slice(1), { cwd: options.cwd ?? process.cwd(), env: { ...process.env, SOURCE_DATE_EPOCH: '', ...options.env }, ...(options.input !== undefined ? { input: options.input } : {}) });
}

/** Runs a program asynchronously, collecting its output; never throws on a non-zero exit. `input` goes to its standard input. */
export function spawnCollect(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    child.stdin?.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Like sealbuild() but fails the test with the output when the exit code is not 0. */
export async function sealbuildOk(root: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const result = await sealbuild(root, args, options);
  if (result.code !== 0) throw new Error(`sealbuild ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

export async function tempDir(prefix = 'sealbuild-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * An external tool the tests check our output with. A missing tool fails the test with the
 * command that installs it: tests never skip.
 */
export function tool(name: string, aptPackage: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error(`${name} is not installed: run \`apt-get install -y ${aptPackage}\` (or \`bash scripts/setup.sh\`)`);
  return found.stdout.trim();
}

/** Runs an external tool; throws with its output on failure. */
export function run(command: string, args: string[], options: { cwd?: string } = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/**
 * Every file under `dir` with its size and mode, plus index.json's bytes: two snapshots are
 * equal only if nothing was added, removed or changed in the store.
 */
export async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const name of (await readdir(d).catch(() => [])).sort()) {
      const p = join(d, name);
      const s = await stat(p);
      if (s.isDirectory()) await walk(p);
      else out.push(`${relative(dir, p)} ${s.size} ${(s.mode & 0o777).toString(8)}`);
    }
  }
  await walk(dir);
  out.push(await readFile(join(dir, 'oci', 'index.json'), 'utf8').catch(() => '(no index)'));
  return out;
}

/** One event of `--progress json` (one JSON object a line on stderr). */
export interface ProgressEvent {
  event: string;
  [field: string]: unknown;
}

/** The events of a `--progress json` run; other lines (the error line) are left out. */
export function progressEvents(stderr: string): ProgressEvent[] {
  return stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as ProgressEvent);
}

/** The steps a `--progress json` build announced: `STEP index/total [platform]: text`. */
export function buildSteps(stderr: string): string[] {
  return progressEvents(stderr).flatMap((e) => (e.event === 'step' ? [`STEP ${e.index}/${e.total} [${e.platform}]: ${e.text}`] : []));
}

/** The digests of the layers a `--progress json` build wrote (not those it took from the cache). */
export function writtenLayers(stderr: string): string[] {
  return progressEvents(stderr).flatMap((e) => (e.event === 'info' && typeof e.size === 'number' && typeof e.digest === 'string' && e.cached !== true ? [e.digest] : []));
}

/** The layer steps of a `--progress json` build: `CACHED <instruction>` or `built <instruction>` (compressed). */
export function layerSteps(stderr: string): string[] {
  const steps: string[] = [];
  let current = '';
  for (const e of progressEvents(stderr)) {
    if (e.event === 'step') current = String(e.text);
    else if (e.event === 'info' && e.cached === true) steps.push(`CACHED ${current}`);
    else if (e.event === 'info' && typeof e.size === 'number' && typeof e.digest === 'string') steps.push(`built ${current}`);
  }
  return steps;
}

/**
 * examples/hello copied into `dir` for builds with `--build-mode lite`: the registry image
 * examples/hello/make-images.sh would make is a placeholder (such builds read no imageList and
 * run no verify). Returns the copy's path.
 */
export async function exampleContext(dir: string): Promise<string> {
  const copy = join(dir, 'example-hello');
  await cp(join(REPO, 'examples', 'hello'), copy, { recursive: true, filter: (src) => !/\/(vendor|images)$/.test(src) });
  await mkdir(join(copy, 'images'));
  await writeFile(join(copy, 'images', 'registry.tar.gz'), 'SEALBUILD-PLACEHOLDER: not the registry image (a test build)\n');
  return copy;
}

/** Writes `files` (path relative to `dir` -> content) under `dir`, making parent directories; returns `dir`. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

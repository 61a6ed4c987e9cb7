import { readFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename } from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeFileAtomic } from '../src/util/fs-atomic.js';

/**
 * Where a run's report goes: the file `BENCH_OUT` names, else nowhere but stdout. A run on
 * a shared or busy machine must not rewrite the tracked docs/benchmarks.md by itself;
 * `BENCH_OUT=docs/benchmarks.md` publishes.
 */
export function reportTarget(): string | undefined {
  return process.env.BENCH_OUT || undefined;
}

/**
 * Prints one benchmark's section and, with a `target` file, replaces (or appends) it there
 * between `<!-- bench:NAME -->` markers, so each benchmark script owns its part of the page.
 * Returns the file written, if any.
 */
export async function writeSection(name: string, markdown: string, target = reportTarget()): Promise<string | undefined> {
  process.stdout.write(`${markdown.trim()}\n`);
  if (target === undefined) {
    process.stderr.write(`bench: ${name} not written to a file (BENCH_OUT=FILE writes it there; BENCH_OUT=docs/benchmarks.md publishes)\n`);
    return undefined;
  }
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const page = await readFile(target, 'utf8').catch(() => '# Benchmarks\n');
  const section = `${begin}\n${markdown.trim()}\n${end}`;
  const start = page.indexOf(begin);
  const stop = page.indexOf(end);
  const next = start >= 0 && stop > start ? `${page.slice(0, start)}${section}${page.slice(stop + end.length)}` : `${page.trimEnd()}\n\n${section}\n`;
  await writeFileAtomic(target, next);
  return target;
}

/** A tool's version line: `--version`, or the `version` subcommand (crane, oras). */
function versionOf(tool: string): string {
  for (const args of [['--version'], ['version']]) {
    const result = spawnSync(tool, args, { encoding: 'utf8' });
    const line = result.status === 0 ? result.stdout.trim().split('\n')[0] : undefined;
    if (line) return line.replace(/^.*?version:?\s*/i, '');
  }
  return '?';
}

/**
 * One line about the machine and tool versions, for each section. A machine that was busy
 * when the run began (load average above half its cores) is said to be: such figures are
 * not comparable with others.
 */
export function machineLine(tools: string[]): string {
  const versions = tools.map((t) => `${basename(t)} ${versionOf(t)}`);
  const load = loadavg()[0]!;
  const busy = load > cpus().length / 2 ? ` **Measured under load** (load average ${load.toFixed(1)} on ${cpus().length} cores when the run began): not comparable.` : '';
  return `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 1024 ** 3)} GiB RAM, Node ${process.version}; ${versions.join(', ')}; ${new Date().toISOString().slice(0, 10)}.${busy}`;
}

/** The faster of the peers measured for one operation: sealbuild's bar. */
export function fasterPeer<T extends { seconds: number }>(peers: T[]): T {
  return peers.reduce((best, m) => (m.seconds < best.seconds ? m : best));
}

export function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}x`;
}

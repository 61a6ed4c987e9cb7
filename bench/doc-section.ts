import { readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/util/fs-atomic.js';

/** docs/benchmarks.md, from the compiled bench/ (dist/bench/) two levels up. */
export const BENCHMARKS_MD = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

/**
 * Replaces (or appends) one benchmark's section of docs/benchmarks.md, between
 * `<!-- bench:NAME -->` markers, so each benchmark script owns its part of the page.
 */
export async function writeSection(name: string, markdown: string): Promise<void> {
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const page = await readFile(BENCHMARKS_MD, 'utf8').catch(() => '# Benchmarks\n');
  const section = `${begin}\n${markdown.trim()}\n${end}`;
  const start = page.indexOf(begin);
  const stop = page.indexOf(end);
  const next = start >= 0 && stop > start ? `${page.slice(0, start)}${section}${page.slice(stop + end.length)}` : `${page.trimEnd()}\n\n${section}\n`;
  await writeFileAtomic(BENCHMARKS_MD, next);
}

/** One line about the machine and tool versions, for each section. */
export function machineLine(tools: string[]): string {
  const versions = tools.map((t) => `${t} ${(spawnSync(t, ['--version'], { encoding: 'utf8' }).stdout ?? '').trim().split('\n')[0]?.replace(/^.*?version\s*/i, '') ?? '?'}`);
  return `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 1024 ** 3)} GiB RAM, Node ${process.version}; ${versions.join(', ')}; ${new Date().toISOString().slice(0, 10)}.`;
}

export function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}x`;
}

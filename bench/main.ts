import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeSection } from './doc-section.js';
import { describeMachine, renderReport, type Results } from './report.js';
import { buildah, compressTool, sealbuildGzip, sealbuildZstd, type BenchContext } from './scenarios.js';
import { generateWorkload } from './workload.js';

/** What the bench runs, with the Debian package of each (scripts/setup.sh installs them all). */
const TOOLS: [string, string][] = [
  ['buildah', 'buildah'],
  ['pigz', 'pigz'],
  ['zstd', 'zstd'],
  ['/usr/bin/time', 'time'],
  ['tar', 'tar'],
];

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

function requireTools(): void {
  const missing = TOOLS.filter(([command]) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0);
  if (missing.length === 0) return;
  const packages = missing.map(([, pkg]) => pkg).join(' ');
  throw new Error(`missing ${missing.map(([c]) => c).join(', ')} (hint: run \`bash scripts/setup.sh\`, or \`apt-get install -y ${packages}\`)`);
}

/**
 * The build half of `npm run bench` (`node dist/bench/main.js [--runs N] [--keep]`, runs also
 * from BENCH_RUNS; the script then runs bench/registry.ts for push and pull): generates the ~1 GiB k3s-like workload in a temp
 * directory, runs every scenario `runs` times, interleaved (round 1 of each, then round 2...)
 * so that load from elsewhere spreads over all of them, and writes its section of
 * docs/benchmarks.md with medians. Installs nothing.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: process.env.BENCH_RUNS ?? '3' }, keep: { type: 'boolean', default: false } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got "${values.runs}"`);
  requireTools();
  const work = await mkdtemp(join(tmpdir(), 'sealbuild-bench-'));
  try {
    const cores = availableParallelism();
    log(`generating the workload in ${work}`);
    const workload = await generateWorkload(join(work, 'context'));
    const ctx: BenchContext = { work, contextDir: workload.dir, contextTar: join(work, 'context.tar'), cores };
    // Also leaves every file in the page cache, for every contender alike.
    const tar = spawnSync('tar', ['--sort=name', '-cf', ctx.contextTar, '-C', workload.dir, '.']);
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
    const results: Results = { runs, workload, sealbuildGzip: [], noCacheRebuild: [], noopRebuild: [], sealbuildZstd: [], buildah: [], pigz: [], zstd: [], buildahMediaType: '' };
    const machine = describeMachine();
    for (let run = 1; run <= runs; run++) {
      log(`run ${run}/${runs}: sealbuild gzip, then --no-cache and no-op rebuilds`);
      const gzip = await sealbuildGzip(ctx, run);
      results.sealbuildGzip.push(gzip.cold);
      results.noCacheRebuild.push(gzip.noCache);
      results.noopRebuild.push(gzip.noop);
      log(`run ${run}/${runs}: buildah bud + push`);
      const peer = await buildah(ctx, run);
      results.buildah.push(peer);
      results.buildahMediaType = peer.mediaType;
      log(`run ${run}/${runs}: pigz -p ${cores}`);
      results.pigz.push(await compressTool(ctx, 'pigz'));
      log(`run ${run}/${runs}: sealbuild zstd`);
      results.sealbuildZstd.push(await sealbuildZstd(ctx, run));
      log(`run ${run}/${runs}: zstd -T${cores}`);
      results.zstd.push(await compressTool(ctx, 'zstd'));
    }
    const written = await writeSection('build', renderReport(machine, results));
    log(`${written ? `wrote ${written}; ` : ''}push and pull (bench/registry.ts) come next in \`npm run bench\``);
  } finally {
    if (values.keep) log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});

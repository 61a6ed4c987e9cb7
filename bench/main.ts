import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeSection } from './doc-section.js';
import { describeMachine, renderReport, type Results } from './report.js';
import { generateFastWorkload } from './fast-workload.js';
import { buildah, coldBuild, compressTool, sealbuildGzip, sealbuildZstd, sha256sum, type BenchContext } from './scenarios.js';
import { renderThroughput, type ThroughputRuns } from './throughput-report.js';
import { generateWorkload, type Workload } from './workload.js';

/** What the bench runs, with the Debian package of each (scripts/setup.sh installs them all). */
const TOOLS: [string, string][] = [
  ['buildah', 'buildah'],
  ['pigz', 'pigz'],
  ['zstd', 'zstd'],
  ['/usr/bin/time', 'time'],
  ['tar', 'tar'],
  ['sha256sum', 'coreutils'],
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
 * `npm run bench` (`node dist/bench/main.js [--runs N] [--keep]`; runs also from BENCH_RUNS):
 * generates two workloads in a temp directory, the ~1 GiB k3s-like one (slow to compress:
 * compression hides the rest) and issue 16's ~460 MiB fast-compressing one (the pipeline
 * shows), and runs every scenario on each, interleaved (round 1 of each, then round 2...) so
 * that load from elsewhere spreads over all of them. By default the 1 GiB workload runs once
 * and the fast one 3 times, so that this and bench:registry and bench:airgap fit in about
 * 12 minutes on 2 cores; --runs N runs both N times. Prints the build section (issue 7's
 * targets) and the throughput section (issue 16's, each ratio next to its target); writes
 * them into docs/benchmarks.md only with BENCH_OUT. Installs nothing.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: process.env.BENCH_RUNS }, keep: { type: 'boolean', default: false } } });
  const runs = values.runs === undefined ? undefined : Number(values.runs);
  if (runs !== undefined && (!Number.isInteger(runs) || runs < 1)) throw new Error(`--runs must be a positive integer, got "${values.runs}"`);
  requireTools();
  const started = Date.now();
  const work = await mkdtemp(join(tmpdir(), 'sealbuild-bench-'));
  try {
    const cores = availableParallelism();
    const machine = describeMachine();
    log(`generating the workloads in ${work}`);
    const big = await prepare(await generateWorkload(join(work, 'context')), work, 'context', cores);
    const fast = await prepare(await generateFastWorkload(join(work, 'fast')), work, 'fast', cores);
    const bigRuns = runs ?? 1;
    const results: Results = { runs: bigRuns, workload: big.workload, sealbuildGzip: [], noCacheRebuild: [], noopRebuild: [], sealbuildZstd: [], buildah: [], pigz: [], zstd: [], buildahMediaType: '' };
    const bigThroughput = emptyRuns('1 GiB k3s-like', big.workload);
    for (let run = 1; run <= bigRuns; run++) {
      const ctx = big.ctx;
      log(`1 GiB workload, run ${run}/${bigRuns}: sealbuild gzip, then --no-cache and no-op rebuilds`);
      const gzip = await sealbuildGzip(ctx, run);
      results.sealbuildGzip.push(gzip.cold);
      results.noCacheRebuild.push(gzip.noCache);
      results.noopRebuild.push(gzip.noop);
      log(`1 GiB workload, run ${run}/${bigRuns}: buildah bud + push`);
      const peer = await buildah(ctx, run);
      results.buildah.push(peer);
      results.buildahMediaType = peer.mediaType;
      log(`1 GiB workload, run ${run}/${bigRuns}: pigz -p ${cores}`);
      results.pigz.push(await compressTool(ctx, 'pigz'));
      log(`1 GiB workload, run ${run}/${bigRuns}: sealbuild zstd`);
      results.sealbuildZstd.push(await sealbuildZstd(ctx, run));
      log(`1 GiB workload, run ${run}/${bigRuns}: zstd -T${cores}`);
      results.zstd.push(await compressTool(ctx, 'zstd'));
      log(`1 GiB workload, run ${run}/${bigRuns}: sealbuild --compression none, sha256sum`);
      bigThroughput.none.push(await coldBuild(ctx, 'none', run));
      bigThroughput.sha256sum.push(await sha256sum(ctx));
    }
    // The 1 GiB workload's gzip and zstd figures are the cold builds above (empty store).
    bigThroughput.gzip = results.sealbuildGzip;
    bigThroughput.zstd = results.sealbuildZstd;
    bigThroughput.pigz = results.pigz;
    bigThroughput.zstdTool = results.zstd;
    const fastRuns = runs ?? 3;
    const fastThroughput = emptyRuns('460 MiB fast-compressing', fast.workload);
    for (let run = 1; run <= fastRuns; run++) {
      log(`fast workload, run ${run}/${fastRuns}: sealbuild none, zstd, gzip; sha256sum, zstd, pigz`);
      fastThroughput.none.push(await coldBuild(fast.ctx, 'none', run));
      fastThroughput.sha256sum.push(await sha256sum(fast.ctx));
      fastThroughput.zstd.push(await coldBuild(fast.ctx, 'zstd', run));
      fastThroughput.zstdTool.push(await compressTool(fast.ctx, 'zstd'));
      fastThroughput.gzip.push(await coldBuild(fast.ctx, 'gzip', run));
      fastThroughput.pigz.push(await compressTool(fast.ctx, 'pigz'));
    }
    log('fast workload: sealbuild gzip with 16 cores simulated (peak RSS)');
    fastThroughput.simulated16 = await coldBuild(fast.ctx, 'gzip', 0, 16);
    const buildWritten = await writeSection('build', renderReport(machine, results));
    const loadAtEnd = loadavg().map((l) => l.toFixed(2)).join(' ');
    const written = await writeSection('throughput', renderThroughput([fastThroughput, bigThroughput], cores, machine, loadAtEnd));
    log(`${buildWritten || written ? `wrote ${written ?? buildWritten}; ` : ''}took ${((Date.now() - started) / 60000).toFixed(1)} min`);
  } finally {
    if (values.keep) log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

/** The workload as one tar too (what the tools read); making it also leaves every file in the page cache. */
async function prepare(workload: Workload, work: string, name: string, cores: number): Promise<{ workload: Workload; ctx: BenchContext }> {
  const ctx: BenchContext = { work, contextDir: workload.dir, contextTar: join(work, `${name}.tar`), cores };
  const tar = spawnSync('tar', ['--sort=name', '-cf', ctx.contextTar, '-C', workload.dir, '.']);
  if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
  return { workload, ctx };
}

function emptyRuns(name: string, workload: Workload): ThroughputRuns {
  return { name, workload, none: [], zstd: [], gzip: [], sha256sum: [], zstdTool: [], pigz: [] };
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});

import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { median, type Timed } from './measure.js';
import type { Outcome } from './scenarios.js';
import type { Workload } from './workload.js';

export interface Results {
  runs: number;
  workload: Workload;
  sealbuildGzip: Outcome[];
  noCacheRebuild: Outcome[];
  noopRebuild: Outcome[];
  sealbuildZstd: Outcome[];
  buildah: Outcome[];
  pigz: Outcome[];
  zstd: Outcome[];
  buildahMediaType: string;
}

export interface Machine {
  date: string;
  cores: number;
  cpu: string;
  ramGiB: number;
  kernel: string;
  node: string;
  loadAtStart: string;
  commit: string;
  tools: Record<string, string>;
}

function firstLine(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n')[0] ?? '?';
}

export function describeMachine(): Machine {
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).stdout?.trim() ? ' (with uncommitted changes)' : '';
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? '?',
    ramGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    loadAtStart: loadavg().map((l) => l.toFixed(2)).join(' '),
    commit: `${firstLine('git', ['rev-parse', '--short', 'HEAD'])}${dirty}`,
    tools: {
      buildah: firstLine('buildah', ['--version']),
      pigz: firstLine('pigz', ['--version']),
      zstd: firstLine('zstd', ['--version']),
      tar: firstLine('tar', ['--version']),
    },
  };
}

const MiB = 1024 * 1024;
const seconds = (s: number): string => `${s.toFixed(2)} s`;
const ratio = (r: number): string => `${r.toFixed(2)}x`;
const pct = (part: number, whole: number): string => `${((part / whole) * 100).toFixed(0)}%`;

interface Row {
  label: string;
  outcomes: Outcome[];
}

function summary(outcomes: Outcome[]): Timed & { outputBytes: number } {
  return {
    seconds: median(outcomes.map((o) => o.seconds)),
    cpuSeconds: median(outcomes.map((o) => o.cpuSeconds)),
    peakRssMiB: median(outcomes.map((o) => o.peakRssMiB)),
    outputBytes: median(outcomes.map((o) => o.outputBytes)),
  };
}

export function renderReport(machine: Machine, r: Results): string {
  const cores = machine.cores;
  const tarBytes = r.workload.bytes;
  const gzip = summary(r.sealbuildGzip);
  const zstdBuild = summary(r.sealbuildZstd);
  const noCache = summary(r.noCacheRebuild);
  const buildah = summary(r.buildah);
  const pigz = summary(r.pigz);
  const rows: Row[] = [
    { label: '**sealbuild build, gzip** (cold: empty store)', outcomes: r.sealbuildGzip },
    { label: '`buildah bud` + `buildah push oci:` (gzip)', outcomes: r.buildah },
    { label: `\`pigz -p ${cores}\` on the context tar (compression only)`, outcomes: r.pigz },
    { label: '**sealbuild build, zstd** (cold: empty store)', outcomes: r.sealbuildZstd },
    { label: `\`zstd -3 -T${cores}\` on the context tar (compression only)`, outcomes: r.zstd },
    { label: '**sealbuild rebuild \`--no-cache\`**, gzip (every step run again, each layer found by its entries)', outcomes: r.noCacheRebuild },
    { label: '**sealbuild no-op rebuild**, gzip (layer cache)', outcomes: r.noopRebuild },
  ];
  const table = rows.map(({ label, outcomes }) => {
    const s = summary(outcomes);
    const out = s.outputBytes > 0 ? `${(s.outputBytes / MiB).toFixed(0)} MiB` : '—';
    const compression = s.outputBytes > 0 ? ratio(tarBytes / s.outputBytes) : '—';
    return `| ${label} | ${seconds(s.seconds)} | ${ratio(s.seconds / gzip.seconds)} | ${seconds(s.cpuSeconds)} | ${out} | ${compression} | ${s.peakRssMiB.toFixed(0)} MiB |`;
  });
  const raw = rows.map(({ label, outcomes }) => `| ${label} | ${outcomes.map((o) => o.seconds.toFixed(2)).join(' / ')} | ${outcomes.map((o) => o.cpuSeconds.toFixed(1)).join(' / ')} | ${outcomes.map((o) => o.peakRssMiB.toFixed(0)).join(' / ')} |`);
  const sealbuildPeak = Math.max(...[...r.sealbuildGzip, ...r.sealbuildZstd, ...r.noCacheRebuild, ...r.noopRebuild].map((o) => o.peakRssMiB));
  const vsBuildah = buildah.seconds / gzip.seconds;
  const vsPigz = gzip.seconds / pigz.seconds;
  const zstdSpeedup = gzip.seconds / zstdBuild.seconds;
  const digests = new Set(r.sealbuildGzip.map((o) => o.digest));
  const met = (ok: boolean): string => (ok ? 'met' : '**missed**');

  return `## Build: cold, zstd and no-op builds of a 1 GiB context vs buildah, pigz and zstd

Written by \`npm run bench\` (bench/main.ts); rerun it rather than editing this section.
Times are wall-clock medians of ${r.runs} run(s), the scenarios interleaved run by run so that
load from elsewhere falls on all of them alike; the machines are shared and noisy, so read
the ratios, not the absolute times. CPU time (user + system, from \`/usr/bin/time -v\`) moves
much less than wall time when other work shares the machine. Peak RSS is \`/usr/bin/time -v\`'s "Maximum resident set
size": for a process with helpers (zstd, buildah's children) it is the largest single
process, not their sum.

### Machine

| | |
| --- | --- |
| date | ${machine.date} |
| cores | ${machine.cores} (${machine.cpu}) |
| RAM | ${machine.ramGiB} GiB |
| kernel | ${machine.kernel} |
| Node.js | ${machine.node} |
| sealbuild | ${machine.commit} |
| load average at start | ${machine.loadAtStart} |
${Object.entries(machine.tools).map(([name, version]) => `| ${name} | ${version} |`).join('\n')}

### Workload

A k3s-like ClusterImage context generated by bench/workload.ts, the same bytes on every
machine: ${(tarBytes / MiB).toFixed(0)} MiB in ${r.workload.files} files. Content is generated to compress like the
real thing (about 2.2x with gzip -6): already-compressed stretches, machine-code-like bytes,
text. The Kubefile is four COPY lines and also a valid Dockerfile, so buildah builds the
same context. The files are in the page cache for every contender.

| part | files | size |
| --- | --- | --- |
${r.workload.parts.map((p) => `| ${p.what} | ${p.files} | ${(p.bytes / MiB).toFixed(0)} MiB |`).join('\n')}

### Results

| scenario | median time | time vs sealbuild gzip | CPU time | output | compression ratio | peak RSS (median) |
| --- | --- | --- | --- | --- | --- | --- |
${table.join('\n')}

buildah's pushed layers: \`${r.buildahMediaType}\` (one layer: buildah without \`--layers\`
commits the whole build as one). sealbuild writes one layer per COPY (four). The gzip image
digest was ${digests.size === 1 ? 'the same in every run' : `**different between runs** (${[...digests].join(', ')})`}.

Every run (wall seconds / CPU seconds / peak RSS MiB):

| scenario | wall | CPU | peak RSS |
| --- | --- | --- | --- |
${raw.join('\n')}

### Targets (issue 7)

| target | measured | |
| --- | --- | --- |
| cold gzip build at least 1.5x faster than buildah bud + push | ${ratio(vsBuildah)} faster (CPU: buildah uses ${ratio(buildah.cpuSeconds / gzip.cpuSeconds)} of sealbuild's) | ${met(vsBuildah >= 1.5)} |
| cold gzip build within 1.3x of \`pigz -p ${cores}\` on the same bytes | ${ratio(vsPigz)} of pigz's time (CPU: ${ratio(gzip.cpuSeconds / pigz.cpuSeconds)} of pigz's) | ${met(vsPigz <= 1.3)} |
| zstd build at least 2x faster than the gzip build | ${ratio(zstdSpeedup)} faster | ${met(zstdSpeedup >= 2)} |
| peak RSS under 200 MB (every sealbuild run) | ${sealbuildPeak.toFixed(0)} MiB at most | ${met(sealbuildPeak * MiB < 200e6)} |

### One pass per layer, and no layer made twice

A cold build reads each context file twice: once to hash it for the step's cache key, once to
stream it into the layer's tar, which goes through the diff_id hash to the compression workers
while a copy is scanned for the runtime contract and the airgap images; no layer is read back.
A layer is never made twice either: the cache key's file digests and the entries name the tar,
and a layer recorded for that name is reused without reading a file. The layer cache (issue 6)
answers unchanged steps first; this catches what the cache cannot: \`--no-cache\`, and steps
whose cache key changed but whose files did not (every step after a changed one, since keys
chain). The \`--no-cache\` rebuild above is that path for all four layers: ${seconds(noCache.seconds)}, ${pct(noCache.seconds, gzip.seconds)} of a
cold gzip build (process start and scanning the context included). Layers whose files have no
digest yet (RUN output, unpacked archives) are hashed first and looked up by diff_id instead.

### Reproduce

\`\`\`sh
bash scripts/setup.sh               # installs buildah, pigz, zstd, time (apt) and npm packages
npm run bench                       # this section and the throughput one; about 6 minutes on a quiet 2-core machine
npm run bench:registry              # push and pull (their own section)
BENCH_RUNS=3 npm run bench          # more runs of both workloads (default: 1 GiB once, the fast one 3 times)
node dist/bench/main.js --keep      # the build half only, keeping the workload in $TMPDIR
\`\`\`
`;
}

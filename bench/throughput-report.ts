import { GZIP_LEVEL } from '../src/layer/gzip-level.js';
import { ZSTD_LEVEL } from '../src/layer/zstd.js';
import { median } from './measure.js';
import type { Outcome } from './scenarios.js';
import type { Workload } from './workload.js';

/** One workload's runs for issue 16's targets: sealbuild's three compressions against the tools' limits on the same tar. */
export interface ThroughputRuns {
  name: string;
  workload: Workload;
  none: Outcome[];
  zstd: Outcome[];
  gzip: Outcome[];
  sha256sum: Outcome[];
  zstdTool: Outcome[];
  pigz: Outcome[];
  /** One gzip build with 16 cores simulated (16 gzip workers): the peak RSS of a big runner. */
  simulated16?: Outcome;
}

const MiB = 1024 * 1024;
const med = (outcomes: Outcome[], pick: (o: Outcome) => number): number => median(outcomes.map(pick));
const s = (x: number): string => `${x.toFixed(2)} s`;
const verdict = (ok: boolean): string => (ok ? 'met' : '**missed**');

/** The rows of the targets table for one workload: each ratio next to its target. */
export function targetRows(r: ThroughputRuns, cores: number): string[] {
  const t = (o: Outcome[]): number => med(o, (x) => x.seconds);
  const none = t(r.none) / t(r.sha256sum);
  const zstdLimit = t(r.zstdTool) + t(r.sha256sum);
  const zstd = t(r.zstd) / zstdLimit;
  const gzip = t(r.gzip) / t(r.pigz);
  const zstdVsGzip = t(r.gzip) / t(r.zstd);
  const peak = Math.max(...[...r.none, ...r.zstd, ...r.gzip].map((o) => o.peakRssMiB));
  const rows = [
    `| ${r.name} | \`--compression none\` ≤ 1.5x \`sha256sum\` of the tar | ${s(t(r.none))} vs ${s(t(r.sha256sum))}: **${none.toFixed(2)}x** | ${verdict(none <= 1.5)} |`,
    `| ${r.name} | zstd ≤ 1.5x (\`zstd -3 -T${cores}\` + \`sha256sum\`) | ${s(t(r.zstd))} vs ${s(t(r.zstdTool))} + ${s(t(r.sha256sum))}: **${zstd.toFixed(2)}x** | ${verdict(zstd <= 1.5)} |`,
    `| ${r.name} | gzip ≤ 1.3x \`pigz -p${cores}\` | ${s(t(r.gzip))} vs ${s(t(r.pigz))}: **${gzip.toFixed(2)}x** | ${verdict(gzip <= 1.3)} |`,
    `| ${r.name} | zstd ≥ 2x faster than gzip | **${zstdVsGzip.toFixed(2)}x** | ${verdict(zstdVsGzip >= 2)} |`,
    `| ${r.name} | peak RSS < 200 MB (every build above) | **${peak.toFixed(0)} MiB** | ${verdict(peak * MiB < 200e6)} |`,
  ];
  if (r.simulated16) {
    const p = r.simulated16.peakRssMiB;
    rows.push(`| ${r.name} | peak RSS bounded with 16 cores (simulated: 16 gzip workers) < 200 MB | **${p.toFixed(0)} MiB** (${s(r.simulated16.seconds)}) | ${verdict(p * MiB < 200e6)} |`);
  }
  return rows;
}

/** Every run of one workload: wall / CPU seconds / peak RSS MiB. */
export function runRows(r: ThroughputRuns, cores: number): string[] {
  const rows: [string, Outcome[]][] = [
    ['sealbuild `--compression none`', r.none],
    ['`sha256sum` of the tar', r.sha256sum],
    ['sealbuild `--compression zstd`', r.zstd],
    [`\`zstd -3 -T${cores}\` of the tar`, r.zstdTool],
    ['sealbuild gzip', r.gzip],
    [`\`pigz -p${cores}\` of the tar`, r.pigz],
  ];
  return rows.map(([label, o]) => `| ${r.name} | ${label} | ${o.map((x) => x.seconds.toFixed(2)).join(' / ')} | ${o.map((x) => x.cpuSeconds.toFixed(1)).join(' / ')} | ${o.map((x) => x.peakRssMiB.toFixed(0)).join(' / ')} |`);
}

export function renderThroughput(all: ThroughputRuns[], cores: number, machine: { date: string; loadAtStart: string; commit: string }, loadAtEnd: string): string {
  const parts = all.map((r) => `${r.name}: ${(r.workload.bytes / MiB).toFixed(0)} MiB in ${r.workload.files} files (${r.workload.parts.map((p) => `${p.files} × ${p.what}, ${(p.bytes / MiB).toFixed(0)} MiB`).join('; ')}), ${r.none.length} run(s)`);
  return `## Throughput targets (issue 16): sealbuild against the tools' limits on the same tar

Written by \`npm run bench\` (bench/main.ts, bench/throughput-report.ts) on ${machine.date}, sealbuild ${machine.commit};
**load average ${machine.loadAtStart} at the start and ${loadAtEnd} at the end** on ${cores} cores (a figure taken
under load above ${cores / 2} is not comparable). Each sealbuild build starts from an empty store with \`--no-cache\`;
the tools read the context as one tar (GNU tar, sorted), already in the page cache. Times are wall-clock medians.
sealbuild compresses at gzip level ${GZIP_LEVEL} and zstd level ${ZSTD_LEVEL}; the tools run at the levels issue 16 names
(pigz's default 6, \`zstd -3\`), which compress a little smaller and cost more CPU.

${parts.map((p) => `- ${p}`).join('\n')}

| workload | target | measured | |
| --- | --- | --- | --- |
${all.flatMap((r) => targetRows(r, cores)).join('\n')}

Every run (wall seconds / CPU seconds / peak RSS MiB):

| workload | what | wall | CPU | peak RSS |
| --- | --- | --- | --- | --- |
${all.flatMap((r) => runRows(r, cores)).join('\n')}
`;
}

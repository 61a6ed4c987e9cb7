/**
 * Push and pull of a ~1 GiB ClusterImage over loopback: sealbuild against `skopeo copy`
 * between the same endpoints, in the same run, on a fresh registry each time; plus an
 * unchanged re-push. Writes its section of docs/benchmarks.md. `npm run bench:registry`.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistry } from '../test/helpers/registry.js';
import { ContentGenerator } from './content.js';
import { machineLine, ratio, writeSection } from './doc-section.js';
import { measure, median, type Measurement } from './measure.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const MiB = 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** Four layers, 1 GiB before compression, like runtime binaries plus an airgap images tar. */
const LAYERS_MIB = [384, 256, 256, 128];

function sealbuild(root: string, args: string[]): Promise<Measurement> {
  return measure(process.execPath, [CLI, '--root', root, '--progress', 'quiet', ...args]);
}

async function makeImage(work: string, root: string): Promise<void> {
  const ctx = join(work, 'ctx');
  const gen = new ContentGenerator('sealbuild-bench-registry-v1');
  const lines = ['FROM scratch'];
  for (const [i, mib] of LAYERS_MIB.entries()) {
    await mkdir(join(ctx, `part${i}`), { recursive: true });
    const data = Buffer.alloc(mib * MiB);
    gen.fill(data, { random: 0.3, code: 0.4 });
    await writeFile(join(ctx, `part${i}`, 'data.bin'), data);
    lines.push(`COPY part${i} /part${i}/`);
  }
  await writeFile(join(ctx, 'Kubefile'), `${lines.join('\n')}\n`);
  await sealbuild(root, ['-t', 'bench/big:1', '--build-mode', 'lite', ctx]);
}

async function fresh<T>(fn: (host: string) => Promise<T>): Promise<T> {
  const registry = await startRegistry();
  try {
    return await fn(registry.host);
  } finally {
    await registry.stop();
  }
}

function summary(ms: Measurement[]): Measurement {
  return { seconds: median(ms.map((m) => m.seconds)), peakRssMiB: Math.max(...ms.map((m) => m.peakRssMiB)) };
}

async function main(): Promise<void> {
  const work = join(tmpdir(), `sealbuild-bench-registry-${process.pid}`);
  const root = join(work, 'root');
  await mkdir(work, { recursive: true });
  try {
    await makeImage(work, root);
    const layout = `oci:${join(root, 'oci')}:docker.io/bench/big:1`;
    const rows: Record<string, Measurement[]> = { sbPush: [], skPush: [], rePush: [], sbPull: [], skPull: [] };
    for (let run = 0; run < RUNS; run++) {
      await fresh(async (host) => {
        rows.sbPush!.push(await sealbuild(root, ['push', 'bench/big:1', `${host}/bench/big:1`]));
        rows.rePush!.push(await sealbuild(root, ['push', 'bench/big:1', `${host}/bench/big:1`]));
        const pullRoot = join(work, `pull-${run}`);
        rows.sbPull!.push(await sealbuild(pullRoot, ['pull', `${host}/bench/big:1`]));
        const dir = join(work, `skopeo-pull-${run}`);
        rows.skPull!.push(await measure('skopeo', ['copy', '--src-tls-verify=false', `docker://${host}/bench/big:1`, `oci:${dir}:big`]));
        await rm(pullRoot, { recursive: true, force: true });
        await rm(dir, { recursive: true, force: true });
      });
      await fresh(async (host) => {
        rows.skPush!.push(await measure('skopeo', ['copy', '--dest-tls-verify=false', layout, `docker://${host}/bench/big:1`]));
      });
    }
    const [sbPush, skPush, rePush, sbPull, skPull] = (['sbPush', 'skPush', 'rePush', 'sbPull', 'skPull'] as const).map((k) => summary(rows[k]!));
    const line = (name: string, m: Measurement, peer?: Measurement) => `| ${name} | ${m.seconds.toFixed(2)} s | ${peer ? ratio(peer.seconds, m.seconds) : ''} | ${m.peakRssMiB.toFixed(0)} MiB |`;
    const markdown = [
      '## Registry: push and pull of a 1 GiB image over loopback',
      '',
      machineLine(['skopeo', 'docker-registry']),
      '',
      `Workload: one image of ${LAYERS_MIB.length} gzip layers (${LAYERS_MIB.reduce((a, b) => a + b, 0)} MiB before compression, semi-compressible), `
        + `a fresh \`docker-registry\` on 127.0.0.1 for each push. Median of ${RUNS} runs; peak RSS is the largest seen. `
        + '"speed-up" is the peer\'s time divided by sealbuild\'s.',
      '',
      '| what | time | speed-up vs skopeo | peak RSS |',
      '| --- | --- | --- | --- |',
      line('sealbuild push', sbPush!, skPush),
      line('skopeo copy oci: -> docker://', skPush!),
      line('sealbuild push, unchanged (re-push)', rePush!),
      line('sealbuild pull', sbPull!, skPull),
      line('skopeo copy docker:// -> oci:', skPull!),
      '',
      'Reproduce: `npm run bench:registry` (BENCH_RUNS=N for more runs).',
    ].join('\n');
    await writeSection('registry', markdown);
    process.stdout.write(`${markdown}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();

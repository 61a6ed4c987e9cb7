/**
 * Push and pull of a ~1 GiB ClusterImage over loopback: sealbuild against `skopeo copy` and
 * `crane push`/`crane pull` (what people reach for when copies must be fast) between the
 * same endpoints, in the same run, on a fresh registry each time; plus an unchanged re-push.
 * Targets are set against the faster peer. Writes its section of docs/benchmarks.md.
 * `npm run bench:registry`.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goTool } from '../test/helpers/go-tools.js';
import { startRegistry } from '../test/helpers/registry.js';
import { ContentGenerator } from './content.js';
import { fasterPeer, machineLine, ratio, writeSection } from './doc-section.js';
import { measure, median, type Measurement } from './measure.js';
import { cliCommand } from '../test/helpers/cli.js';

const MiB = 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** Four layers, 1 GiB before compression, like runtime binaries plus an airgap images tar. */
const LAYERS_MIB = [384, 256, 256, 128];

function sealbuild(root: string, args: string[]): Promise<Measurement> {
  return measure(...cliCommand(['--root', root, '--progress', 'quiet', ...args]));
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
    const crane = goTool('crane');
    const rows: Record<string, Measurement[]> = { sbPush: [], skPush: [], crPush: [], rePush: [], sbPull: [], skPull: [], crPull: [] };
    for (let run = 0; run < RUNS; run++) {
      await fresh(async (host) => {
        rows.sbPush!.push(await sealbuild(root, ['push', 'bench/big:1', `${host}/bench/big:1`]));
        rows.rePush!.push(await sealbuild(root, ['push', 'bench/big:1', `${host}/bench/big:1`]));
        const pullRoot = join(work, `pull-${run}`);
        rows.sbPull!.push(await sealbuild(pullRoot, ['pull', `${host}/bench/big:1`]));
        const dir = join(work, `skopeo-pull-${run}`);
        rows.skPull!.push(await measure('skopeo', ['copy', '--src-tls-verify=false', `docker://${host}/bench/big:1`, `oci:${dir}:big`]));
        const craneDir = join(work, `crane-pull-${run}`);
        rows.crPull!.push(await measure(crane, ['pull', '--insecure', '--format', 'oci', `${host}/bench/big:1`, craneDir]));
        for (const d of [pullRoot, dir, craneDir]) await rm(d, { recursive: true, force: true });
      });
      await fresh(async (host) => {
        rows.skPush!.push(await measure('skopeo', ['copy', '--dest-tls-verify=false', layout, `docker://${host}/bench/big:1`]));
      });
      await fresh(async (host) => {
        // crane pushes an OCI layout holding one image: the store holds only this one.
        rows.crPush!.push(await measure(crane, ['push', '--insecure', join(root, 'oci'), `${host}/bench/big:1`]));
      });
    }
    const [sbPush, skPush, crPush, rePush, sbPull, skPull, crPull] = (['sbPush', 'skPush', 'crPush', 'rePush', 'sbPull', 'skPull', 'crPull'] as const).map((k) => summary(rows[k]!));
    const line = (name: string, m: Measurement, peers?: Measurement[]) => `| ${name} | ${m.seconds.toFixed(2)} s | ${peers ? ratio(fasterPeer(peers).seconds, m.seconds) : ''} | ${m.peakRssMiB.toFixed(0)} MiB |`;
    const markdown = [
      '## Registry: push and pull of a 1 GiB image over loopback',
      '',
      machineLine(['skopeo', 'docker-registry', crane]),
      '',
      `Workload: one image of ${LAYERS_MIB.length} gzip layers (${LAYERS_MIB.reduce((a, b) => a + b, 0)} MiB before compression, semi-compressible), `
        + `a fresh \`docker-registry\` on 127.0.0.1 for each push. Median of ${RUNS} runs; peak RSS is the largest seen. `
        + '"speed-up" is the faster peer\'s time (skopeo or crane) divided by sealbuild\'s: the target is above 1.',
      '',
      'The pulls do the same work: each checks every blob against its digest and size and decompresses no layer (sealbuild checks a '
        + 'layer\'s diff_id where it is first read, issue 19).',
      '',
      '| what | time | speed-up vs faster peer | peak RSS |',
      '| --- | --- | --- | --- |',
      line('sealbuild push', sbPush!, [skPush!, crPush!]),
      line('skopeo copy oci: -> docker://', skPush!),
      line('crane push (OCI layout)', crPush!),
      line('sealbuild push, unchanged (re-push)', rePush!),
      line('sealbuild pull', sbPull!, [skPull!, crPull!]),
      line('skopeo copy docker:// -> oci:', skPull!),
      line('crane pull --format oci', crPull!),
      '',
      'Reproduce: `npm run bench:registry` (BENCH_RUNS=N for more runs).',
    ].join('\n');
    // writeSection prints it.
    await writeSection('registry', markdown);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();

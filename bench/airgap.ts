/**
 * Caching 30 container images (~600 MB, shared base layers) from a loopback registry into a
 * ClusterImage's registry/: sealbuild against `skopeo sync` and `crane copy` (image after
 * image) into a registry on the same disk, in the same run; then a warm rebuild, which must
 * download nothing. Targets are set against the faster peer. Writes its section of
 * docs/benchmarks.md. `npm run bench:airgap`.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { goTool } from '../test/helpers/go-tools.js';
import { startRegistry, type Registry } from '../test/helpers/registry.js';
import { ContentGenerator } from './content.js';
import { fasterPeer, machineLine, ratio, writeSection } from './doc-section.js';
import { combine, measure, median, type Measurement, type Timed } from './measure.js';
import { cliCommand } from '../test/helpers/cli.js';

const MiB = 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const IMAGES = 30;
const BASES = 3;
const BASE_MIB = 64;
const UNIQUE_MIB = 16;

/** A sealbuild run timed by /usr/bin/time into a file, so its JSON progress stays readable. */
async function timedBuild(root: string, args: string[]): Promise<Measurement & { downloadedBytes: number }> {
  const timeFile = `${root}.time`;
  const started = process.hrtime.bigint();
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-v', '-o', timeFile, ...cliCommand(['--root', root, '--progress', 'json', ...args]).flat()], { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (text += c));
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`sealbuild exited ${code}: ${text.slice(-2000)}`))));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const rssKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(await readFile(timeFile, 'utf8'))?.[1]);
  const cached = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event?: string; downloadedBytes?: number }).find((e) => e.event === 'images-cached');
  return { seconds, peakRssMiB: rssKiB / 1024, downloadedBytes: cached?.downloadedBytes ?? Number.NaN };
}

/** Thirty images: each a shared base layer (one of three) plus a layer of its own. */
async function seed(work: string, source: Registry): Promise<string[]> {
  const gen = new ContentGenerator('sealbuild-bench-airgap-v1');
  const seedRoot = join(work, 'seed-root');
  const ctx = join(work, 'seed');
  for (let b = 0; b < BASES; b++) {
    await mkdir(join(ctx, `base${b}`), { recursive: true });
    const data = Buffer.alloc(BASE_MIB * MiB);
    gen.fill(data, { random: 0.5, code: 0.3 });
    await writeFile(join(ctx, `base${b}`, 'lib.bin'), data);
  }
  const refs: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    await mkdir(join(ctx, 'unique'), { recursive: true });
    const data = Buffer.alloc(UNIQUE_MIB * MiB);
    gen.fill(data, { random: 0.5, code: 0.3 });
    await writeFile(join(ctx, 'unique', 'app.bin'), data);
    await writeFile(join(ctx, 'Kubefile'), `FROM scratch\nCOPY base${i % BASES}/ /base/\nCOPY unique/ /app/\n`);
    const ref = `${source.host}/team/app${i}:v1`;
    await measure(...cliCommand(['--root', seedRoot, '--progress', 'quiet', '-t', ref, '--build-mode', 'lite', ctx]));
    await measure(...cliCommand(['--root', seedRoot, '--progress', 'quiet', 'push', ref]));
    refs.push(ref);
  }
  return refs;
}

async function main(): Promise<void> {
  const work = join(tmpdir(), `sealbuild-bench-airgap-${process.pid}`);
  await mkdir(work, { recursive: true });
  const source = await startRegistry();
  try {
    const refs = await seed(work, source);
    const ctx = join(work, 'cluster');
    await mkdir(join(ctx, 'manifests'), { recursive: true });
    await writeFile(join(ctx, 'manifests', 'imageList'), `${refs.join('\n')}\n`);
    await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY manifests manifests\n');
    const syncFile = join(work, 'sync.yaml');
    await writeFile(syncFile, stringify({ [source.host]: { 'tls-verify': false, images: Object.fromEntries(refs.map((r) => [r.slice(source.host.length + 1, -':v1'.length), ['v1']])) } }));

    const cold: (Measurement & { downloadedBytes: number })[] = [];
    const warm: (Measurement & { downloadedBytes: number })[] = [];
    const sync: Measurement[] = [];
    const copies: Measurement[] = [];
    const crane = goTool('crane');
    for (let run = 0; run < RUNS; run++) {
      const root = join(work, `root-${run}`);
      cold.push(await timedBuild(root, ['-t', 'bench/cluster:1', '--platform', 'linux/amd64', ctx]));
      warm.push(await timedBuild(root, ['-t', 'bench/cluster:1', '--platform', 'linux/amd64', ctx]));
      await rm(root, { recursive: true, force: true });
      const dest = await startRegistry();
      try {
        sync.push(await measure('skopeo', ['sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', syncFile, dest.host]));
      } finally {
        await dest.stop();
      }
      // crane copies one image per command; the images' times add up.
      const craneDest = await startRegistry();
      try {
        let total: Timed | undefined;
        for (const ref of refs) {
          const one = await measure(crane, ['copy', '--insecure', ref, `${craneDest.host}${ref.slice(source.host.length)}`]);
          total = total ? combine(total, one) : one;
        }
        copies.push(total!);
      } finally {
        await craneDest.stop();
      }
    }
    const med = (ms: Measurement[]) => ({ seconds: median(ms.map((m) => m.seconds)), peakRssMiB: Math.max(...ms.map((m) => m.peakRssMiB)) });
    const [c, w, s, k] = [med(cold), med(warm), med(sync), med(copies)];
    const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
    const markdown = [
      `## Airgap: caching ${IMAGES} images into registry/`,
      '',
      machineLine(['skopeo', 'docker-registry', crane]),
      '',
      `Workload: ${IMAGES} images in a loopback \`docker-registry\`, each one of ${BASES} shared ${BASE_MIB} MiB base layers plus its own ${UNIQUE_MIB} MiB layer `
        + `(${BASES * BASE_MIB + IMAGES * UNIQUE_MIB} MiB before compression, gzip). sealbuild builds a ClusterImage whose manifests/imageList names all of them `
        + '(discovery, pull into the store, the registry/ layer); skopeo sync, and crane copy image after image, copy the same images into a fresh registry on the same disk. '
        + `Median of ${RUNS} runs, fresh store each run; peak RSS is the largest seen. "speed-up" is the faster peer's time divided by sealbuild's.`,
      '',
      '| what | time | speed-up vs faster peer | downloaded | peak RSS |',
      '| --- | --- | --- | --- | --- |',
      `| sealbuild build, cold | ${c.seconds.toFixed(2)} s | ${ratio(fasterPeer([s, k]).seconds, c.seconds)} | ${mb(median(cold.map((m) => m.downloadedBytes)))} | ${c.peakRssMiB.toFixed(0)} MiB |`,
      `| skopeo sync | ${s.seconds.toFixed(2)} s | | | ${s.peakRssMiB.toFixed(0)} MiB |`,
      `| crane copy, ${IMAGES} images | ${k.seconds.toFixed(2)} s | | | ${k.peakRssMiB.toFixed(0)} MiB |`,
      `| sealbuild rebuild, warm | ${w.seconds.toFixed(2)} s | | ${mb(Math.max(...warm.map((m) => m.downloadedBytes)))} | ${w.peakRssMiB.toFixed(0)} MiB |`,
      '',
      'Reproduce: `npm run bench:airgap` (BENCH_RUNS=N for more runs).',
    ].join('\n');
    await writeSection('airgap', markdown);
    process.stdout.write(`${markdown}\n`);
  } finally {
    await source.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();

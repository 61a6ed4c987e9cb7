import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ContentGenerator, type ContentMix } from './content.js';
import { writeGenerated, type Workload } from './workload.js';

const MiB = 1024 * 1024;

/** Half already-compressed bytes, half text: compresses fast, so the pipeline shows, not the compressor. */
const LARGE: ContentMix = { random: 0.5, code: 0 };
/** YAML-like text. */
const SMALL: ContentMix = { random: 0, code: 0 };

const LARGE_FILES: [string, number][] = [
  ['data/a.bin', 60],
  ['data/b.bin', 60],
  ['data/c.bin', 60],
  ['data/d.bin', 200],
];
const SMALL_FILES = 2000;

const KUBEFILE = ['FROM scratch', 'COPY data/ /data/', 'COPY conf/ /conf/', ''].join('\n');

/**
 * The fast-compressing context of issue 16: three 60 MiB files and one of 200 MiB, half random
 * and half text, plus 2,000 small YAML-like files (8-72 KiB, about 78 MiB): about 460 MiB
 * in all. Where the 1 GiB workload is bound by compression, this one shows the cost of
 * reading, hashing and writing around it. Deterministic like the other workload.
 */
export async function generateFastWorkload(dir: string): Promise<Workload> {
  const gen = new ContentGenerator('sealbuild-bench-fast-v1');
  let large = 0;
  for (const [path, mib] of LARGE_FILES) large += await writeGenerated(join(dir, path), mib * MiB, gen, LARGE, 0o644);
  let small = 0;
  for (let i = 0; i < SMALL_FILES; i++) {
    const size = 8 * 1024 + (gen.random(2).readUInt16LE(0) % (64 * 1024));
    const content = Buffer.alloc(size);
    gen.fill(content, SMALL);
    const sub = join(dir, 'conf', `group-${Math.floor(i / 100)}`);
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `config-${i}.yaml`), content);
    small += size;
  }
  await writeFile(join(dir, 'Kubefile'), KUBEFILE);
  return {
    dir,
    bytes: large + small,
    files: LARGE_FILES.length + SMALL_FILES,
    parts: [
      { what: 'large files, half random and half text', files: LARGE_FILES.length, bytes: large },
      { what: 'small YAML-like text files (8-72 KiB) in conf/', files: SMALL_FILES, bytes: small },
    ],
  };
}

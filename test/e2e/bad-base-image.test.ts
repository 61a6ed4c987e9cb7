/*
 * A FROM image whose own documents are malformed is bad input, not a bug: one `Error:` line
 * at the FROM line naming the image and the document (issue #15 point 7).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, sealbuild, sealbuildOk, tempDir } from '../helpers/cli.js';

let work: string;
let store: string;

before(async () => {
  [work, store] = await Promise.all([tempDir('sealbuild-badbase-work-'), tempDir('sealbuild-badbase-store-')]);
  await mkdir(join(work, 'ctx'));
  await writeFile(join(work, 'ctx', 'Kubefile'), 'FROM scratch\nLABEL purpose=base\n');
  await sealbuildOk(store, ['-t', 'my/base:v1', 'ctx'], { cwd: work });
});

after(async () => {
  await Promise.all([work, store].map(removeDir));
});

/** Rewrites the manifest my/base:v1 points at with `annotation` set to `value`, and moves the tag to it. */
async function tamperAnnotation(annotation: string, value: string): Promise<void> {
  const indexPath = join(store, 'oci', 'index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8')) as { manifests: { digest: string; size: number; annotations?: Record<string, string> }[] };
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'docker.io/my/base:v1')!;
  const manifest = JSON.parse(await readFile(join(store, 'oci', 'blobs', 'sha256', entry.digest.slice('sha256:'.length)), 'utf8')) as { annotations: Record<string, string> };
  manifest.annotations[annotation] = value;
  const bytes = Buffer.from(JSON.stringify(manifest));
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(store, 'oci', 'blobs', 'sha256', hex), bytes);
  Object.assign(entry, { digest: `sha256:${hex}`, size: bytes.length });
  await writeFile(indexPath, JSON.stringify(index));
}

for (const [what, value, expected] of [
  ['a field of the wrong type', '{"schemaVersion": 1}', 'invalid document at "schemaVersion"'],
  ['not JSON at all', '{"schemaVersion": ', 'not valid JSON'],
] as const) {
  test(`a FROM image whose sealer.image.extension is ${what}: one error line at the FROM line`, async () => {
    await tamperAnnotation('sealer.image.extension', value);
    await writeFile(join(work, 'ctx', 'child.Kubefile'), 'FROM my/base:v1\nLABEL purpose=child\n');
    const result = await sealbuild(store, ['--progress', 'quiet', '-t', 'my/child:v1', '-f', 'ctx/child.Kubefile', 'ctx'], { cwd: work });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^Error: [^\n]*\n$/, `not one error line: ${JSON.stringify(result.stderr)}`);
    for (const part of ['ctx/child.Kubefile:1:1: FROM my/base:v1: ', 'annotation sealer.image.extension of image sha256:', expected]) {
      assert.ok(result.stderr.includes(part), `stderr lacks ${JSON.stringify(part)}: ${result.stderr}`);
    }
    assert.doesNotMatch(result.stderr, /ZodError|looks like a bug/);
  });
}

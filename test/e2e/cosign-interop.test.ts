import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, sealbuild, sealbuildOk, spawnCollect, tempDir, writeFiles } from '../helpers/cli.js';
import { goTool } from '../helpers/go-tools.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

/*
 * The real cosign (v2.6.5, built by setup) and sealbuild read each other's keys and
 * signatures: `cosign verify --key` accepts what `push --sign-key` and `sign` write, and
 * `pull --verify-key` accepts what `cosign sign` writes. Offline, as at an airgapped site: no
 * transparency log (cosign sign --tlog-upload=false, verify --insecure-ignore-tlog).
 */

const PASSWORD = 'interop password';
let work: string;
let root: string;
let registry: Registry;
let cosign: string;
const env = { ...process.env, COSIGN_PASSWORD: PASSWORD };

before(async () => {
  cosign = goTool('cosign');
  work = await tempDir();
  root = join(work, 'root');
  registry = await startRegistry();
  for (const name of ['ours', 'theirs', 'their-key']) {
    await sealbuildOk(root, ['-t', `${registry.host}/team/${name}:1`, await writeFiles(join(work, name), { 'Kubefile': 'FROM scratch\nCOPY a.txt /\n', 'a.txt': `${name}\n` })]);
  }
});
after(async () => {
  await registry?.stop();
  await removeDir(work);
});

/** Runs cosign (spawned asynchronously: the registry runs in this process). */
async function runCosign(args: string[]): Promise<{ code: number; out: string }> {
  const result = await spawnCollect(cosign, args, { cwd: work, env });
  return { code: result.code, out: result.stdout + result.stderr };
}

const verifyArgs = (key: string, ref: string) => ['verify', '--key', key, '--insecure-ignore-tlog', '--allow-http-registry', '--output', 'json', ref];

test("cosign verify --key accepts sealbuild's signatures, made with sealbuild's own key and with cosign's encrypted key", async () => {
  const ours = join(work, 'ours-key');
  await sealbuildOk(root, ['key', 'generate', '--encrypt', '-o', ours], { env });
  const ref = `${registry.host}/team/ours:1`;
  const digest = (await sealbuildOk(root, ['push', '--sign-key', `${ours}.key`, ref], { env })).stdout.trim();
  const verified = await runCosign(verifyArgs(`${ours}.pub`, ref));
  assert.equal(verified.code, 0, verified.out);
  // cosign prints the payloads it verified: ours names the pushed digest.
  assert.match(verified.out, new RegExp(`"docker-manifest-digest":"${digest}"`));

  // A key cosign made: sealbuild signs with it (cosign's encrypted format), cosign verifies.
  const ref2 = `${registry.host}/team/their-key:1`;
  const generated = await runCosign(['generate-key-pair', '--output-key-prefix', 'cosign']);
  assert.equal(generated.code, 0, generated.out);
  await sealbuildOk(root, ['push', ref2], { env });
  await sealbuildOk(root, ['sign', '--key', join(work, 'cosign.key'), ref2], { env });
  const again = await runCosign(verifyArgs(join(work, 'cosign.pub'), ref2));
  assert.equal(again.code, 0, again.out);

  // And cosign refuses another key's: the check is real.
  const wrong = await runCosign(verifyArgs(join(work, 'cosign.pub'), ref));
  assert.notEqual(wrong.code, 0, wrong.out);
});

test("pull --verify-key accepts cosign's signature and refuses it with another key", async () => {
  const ref = `${registry.host}/team/theirs:1`;
  const digest = (await sealbuildOk(root, ['push', ref])).stdout.trim();
  const prefix = join(work, 'theirs');
  const generated = await runCosign(['generate-key-pair', '--output-key-prefix', 'theirs']);
  assert.equal(generated.code, 0, generated.out);
  const signed = await runCosign(['sign', '--key', `${prefix}.key`, '--tlog-upload=false', '--allow-http-registry', '--yes', `${registry.host}/team/theirs@${digest}`]);
  assert.equal(signed.code, 0, signed.out);

  const pulled = await sealbuildOk(join(work, 'site'), ['pull', '--verify-key', `${prefix}.pub`, ref]);
  assert.match(pulled.stderr, /Verified the signature/);
  const other = join(work, 'other');
  await sealbuildOk(root, ['key', 'generate', '-o', other]);
  const refused = await sealbuild(join(work, 'site2'), ['pull', '--verify-key', `${other}.pub`, ref]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /no signature verifies with/);
});

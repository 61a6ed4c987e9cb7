import assert from 'node:assert/strict';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run, sealbuild, sealbuildOk, snapshot, tool } from '../helpers/cli.js';
import { goTool } from '../helpers/go-tools.js';
import { registryScratch, removeRegistryScratch, type Registry } from '../helpers/registry.js';

/*
 * Signatures in cosign's layout, verified with a sigstoreSigned policy and
 * use-sigstore-attachments by containers/image, the library skopeo and podman decide with
 * (test/tools/sigstore-verify: Debian's skopeo has sigstore verification patched out), and
 * by `pull --verify-key`.
 */

let work: string;
let root: string;
let registry: Registry;
let h: string;
let verifier: string;

async function build(tag: string, text: string, platforms = 'linux/amd64'): Promise<void> {
  const ctx = join(work, 'ctx', tag.replace(/[/:]/g, '-'));
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'a.txt'), text);
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY a.txt /\n');
  await sealbuildOk(root, ['-t', tag, '--platform', platforms, ctx]);
}

/** containers/image's policy check: a sigstore signature by `pub` is required for everything on the registry. */
async function policyAllows(ref: string, pub: string): Promise<{ ok: boolean; output: string }> {
  const dir = join(work, `policy-${Math.random().toString(36).slice(2)}`);
  await mkdir(join(dir, 'registries.d'), { recursive: true });
  const policy = join(dir, 'policy.json');
  await writeFile(policy, JSON.stringify({
    default: [{ type: 'reject' }],
    transports: { docker: { [h]: [{ type: 'sigstoreSigned', keyPath: pub, signedIdentity: { type: 'matchRepository' } }] } },
  }));
  await writeFile(join(dir, 'registries.d', 'sealbuild-test.yaml'), `docker:\n  ${h}:\n    use-sigstore-attachments: true\n`);
  const out = run('sh', ['-c', `${verifier} ${policy} ${join(dir, 'registries.d')} ${ref} 2>&1; echo "exit=$?"`]);
  return { ok: /exit=0\s*$/.test(out), output: out };
}

before(async () => {
  tool('skopeo', 'skopeo');
  verifier = goTool('sigstore-verify');
  ({ work, root, registry, h } = await registryScratch());
});
after(() => removeRegistryScratch(registry, work));

test('key generate writes a P-256 pair (private 0600) and never overwrites it', async () => {
  const prefix = join(work, 'keys', 'site');
  await mkdir(join(work, 'keys'), { recursive: true });
  const out = await sealbuildOk(root, ['key', 'generate', '-o', prefix]);
  assert.deepEqual(out.stdout.trim().split('\n'), [`${prefix}.key`, `${prefix}.pub`]);
  assert.equal((await stat(`${prefix}.key`)).mode & 0o777, 0o600);
  assert.match(run('openssl', ['pkey', '-pubin', '-in', `${prefix}.pub`, '-noout', '-text']), /ASN1 OID: prime256v1/);
  const again = await sealbuild(root, ['key', 'generate', '-o', prefix]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /site\.key exists/);
});

test('push --sign-key: a sigstoreSigned policy accepts it; unsigned, moved tags, tampered signatures and other keys are refused', async () => {
  const key = join(work, 'k1');
  const other = join(work, 'k2');
  await sealbuildOk(root, ['key', 'generate', '-o', key]);
  await sealbuildOk(root, ['key', 'generate', '-o', other]);
  await build('sign/multi:1', 'signed index\n', 'linux/amd64,linux/arm64');
  await build('sign/plain:1', 'unsigned\n');
  await build('sign/other:1', 'pushed over the signed tag\n');

  const pushed = await sealbuildOk(root, ['push', '--sign-key', `${key}.key`, 'sign/multi:1', `${h}/team/multi:1`]);
  const digest = pushed.stdout.trim();
  assert.match(pushed.stderr, new RegExp(`Signed ${h}/team/multi:1: ${h}/team/multi:sha256-${digest.slice(7)}\\.sig`));
  // The signature sits where cosign puts it: tag sha256-<hex>.sig, one simple-signing layer.
  const sig = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${h}/team/multi:sha256-${digest.slice(7)}.sig`])) as { layers: { mediaType: string; annotations: Record<string, string> }[] };
  assert.equal(sig.layers.length, 1);
  assert.equal(sig.layers[0]!.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
  assert.ok(sig.layers[0]!.annotations['dev.cosignproject.cosign/signature']);
  // Signing again with the same key adds nothing.
  await sealbuildOk(root, ['sign', '--key', `${key}.key`, `${h}/team/multi:1`]);
  assert.equal((JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${h}/team/multi:sha256-${digest.slice(7)}.sig`])) as { layers: unknown[] }).layers.length, 1);

  const signed = await policyAllows(`${h}/team/multi:1`, `${key}.pub`);
  assert.ok(signed.ok, signed.output);
  const wrongKey = await policyAllows(`${h}/team/multi:1`, `${other}.pub`);
  assert.ok(!wrongKey.ok, wrongKey.output);
  assert.match(wrongKey.output, /signature/i);

  await sealbuildOk(root, ['push', 'sign/plain:1', `${h}/team/plain:1`]);
  const unsigned = await policyAllows(`${h}/team/plain:1`, `${key}.pub`);
  assert.ok(!unsigned.ok, unsigned.output);
  assert.match(unsigned.output, /signature/i);
  // `sealbuild sign` on what is already in the registry makes it acceptable.
  await sealbuildOk(root, ['sign', '--key', `${key}.key`, `${h}/team/plain:1`]);
  assert.ok((await policyAllows(`${h}/team/plain:1`, `${key}.pub`)).ok);

  // The tag moved to other content: the signature names the old digest.
  await sealbuildOk(root, ['push', 'sign/other:1', `${h}/team/plain:1`]);
  assert.ok(!(await policyAllows(`${h}/team/plain:1`, `${key}.pub`)).ok);

  // A tampered signature: the same manifest with one signature byte changed.
  await sealbuildOk(root, ['push', '--sign-key', `${key}.key`, 'sign/plain:1', `${h}/team/tampered:1`]);
  const plainDigest = (await sealbuildOk(root, ['push', 'sign/plain:1', `${h}/team/tampered:1`])).stdout.trim();
  const tag = `sha256-${plainDigest.slice(7)}.sig`;
  const manifest = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${h}/team/tampered:${tag}`])) as { layers: { annotations: Record<string, string> }[] };
  const original = manifest.layers[0]!.annotations['dev.cosignproject.cosign/signature']!;
  const bytes = Buffer.from(original, 'base64');
  bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
  manifest.layers[0]!.annotations['dev.cosignproject.cosign/signature'] = bytes.toString('base64');
  const put = await fetch(`${registry.url}/v2/team/tampered/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: JSON.stringify(manifest) });
  assert.equal(put.status, 201);
  assert.ok(!(await policyAllows(`${h}/team/tampered:1`, `${key}.pub`)).ok);

  // pull --verify-key takes the same decisions, and stores nothing it refuses.
  const pullRoot = join(work, 'pull-root');
  const good = await sealbuildOk(pullRoot, ['pull', '--all-platforms', '--verify-key', `${key}.pub`, `${h}/team/multi:1`]);
  assert.equal(good.stdout.trim(), digest);
  assert.match((await sealbuildOk(pullRoot, ['images'])).stdout, new RegExp(`${h}/team/multi\\s+1\\s`));
  const before = await snapshot(pullRoot);
  const refusals: [string, string, RegExp][] = [
    [`${h}/team/plain:1`, `${key}.pub`, /team\/plain@sha256:[0-9a-f]{64} is not signed \(no sha256-[0-9a-f]{64}\.sig\)/],
    [`${h}/team/tampered:1`, `${key}.pub`, /no signature verifies with .*k1\.pub \(the signature does not verify with the key\)/],
    [`${h}/team/multi:1`, `${other}.pub`, /no signature verifies with .*k2\.pub/],
  ];
  for (const [ref, pub, pattern] of refusals) {
    const refused = await sealbuild(pullRoot, ['--progress', 'quiet', 'pull', '--verify-key', pub, ref]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.match(refused.stderr, pattern);
  }
  assert.deepEqual(await snapshot(pullRoot), before);
});

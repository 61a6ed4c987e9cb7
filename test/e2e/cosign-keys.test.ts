import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sealbuild, sealbuildOk, writeFiles } from '../helpers/cli.js';
import { registryScratch, removeRegistryScratch, type Registry } from '../helpers/registry.js';

/*
 * cosign's encrypted private keys (ENCRYPTED SIGSTORE PRIVATE KEY: scrypt + NaCl secretbox
 * around PKCS#8): written by `key generate --encrypt`, read by `sign` and `push --sign-key`,
 * the password from COSIGN_PASSWORD and never shown.
 */

const PASSWORD = 'correct horse battery staple';
let work: string;
let root: string;
let registry: Registry;
const withPassword = (password: string | undefined) => {
  const env = { ...process.env };
  if (password === undefined) delete env.COSIGN_PASSWORD;
  else env.COSIGN_PASSWORD = password;
  return { env };
};

before(async () => {
  ({ work, root, registry } = await registryScratch());
  await sealbuildOk(root, ['-t', `${registry.host}/team/app:1`, await writeFiles(join(work, 'ctx'), { 'Kubefile': 'FROM scratch\nCOPY a.txt /\n', 'a.txt': 'a\n' })]);
});
after(() => removeRegistryScratch(registry, work));

test("key generate --encrypt writes cosign's format; signing reads it with COSIGN_PASSWORD; a wrong or missing password is refused in one line; the password is never printed", async () => {
  const prefix = join(work, 'enc');
  const made = await sealbuildOk(root, ['key', 'generate', '--encrypt', '-o', prefix], withPassword(PASSWORD));
  const pem = await readFile(`${prefix}.key`, 'utf8');
  assert.match(pem, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n$/);
  const body = JSON.parse(Buffer.from(pem.split('\n').slice(1, -2).join(''), 'base64').toString('utf8')) as { kdf: { name: string; params: unknown }; cipher: { name: string; nonce: string } };
  assert.deepEqual([body.kdf.name, body.kdf.params, body.cipher.name, Buffer.from(body.cipher.nonce, 'base64').length], ['scrypt', { N: 65536, r: 8, p: 1 }, 'nacl/secretbox', 24]);
  assert.equal((await stat(`${prefix}.key`)).mode & 0o777, 0o600);
  assert.ok(!pem.includes('PRIVATE KEY-----\nMI'), 'not plain PKCS#8');

  const ref = `${registry.host}/team/app:1`;
  const outputs = [made.stdout + made.stderr];
  const pushed = await sealbuildOk(root, ['push', '--sign-key', `${prefix}.key`, ref], withPassword(PASSWORD));
  outputs.push(pushed.stdout + pushed.stderr);
  const verified = await sealbuildOk(join(work, 'other'), ['pull', '--verify-key', `${prefix}.pub`, ref]);
  assert.match(verified.stderr, /Verified the signature/);

  const wrong = await sealbuild(root, ['sign', '--key', `${prefix}.key`, ref], withPassword('not it'));
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^Error: --key .*enc\.key: wrong password \(the key does not decrypt\) \(hint: set COSIGN_PASSWORD[^\n]*\)\n$/);
  outputs.push(wrong.stdout + wrong.stderr);

  // No COSIGN_PASSWORD and no terminal (the test's stdin is not one): a clear refusal, not a hang.
  const missing = await sealbuild(root, ['sign', '--key', `${prefix}.key`, ref], withPassword(undefined));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /needs a password and there is no terminal to ask on \(hint: set COSIGN_PASSWORD\)/);
  for (const output of outputs) assert.ok(!output.includes(PASSWORD), 'the password is never printed');
});

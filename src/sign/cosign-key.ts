import { randomBytes, scrypt as scryptCallback, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { z } from 'zod';
import { UserError } from '../util/errors.js';

/*
 * cosign's encrypted private keys (sigstore/cosign pkg/cosign/keys.go, the encryption of
 * secure-systems-lab/go-securesystemslib encrypted/encrypted.go): a PEM block of type
 * `ENCRYPTED SIGSTORE PRIVATE KEY` (older cosign: `ENCRYPTED COSIGN PRIVATE KEY`) whose body
 * is JSON: the PKCS#8 DER private key sealed with NaCl secretbox (XSalsa20-Poly1305) under a
 * key scrypt derives from the password. Node has scrypt but no XSalsa20, hence
 * @noble/ciphers (audited, no dependencies) for the box.
 */
export const SIGSTORE_KEY_PEM = 'ENCRYPTED SIGSTORE PRIVATE KEY';
const COSIGN_KEY_PEM = 'ENCRYPTED COSIGN PRIVATE KEY';
const scrypt = promisify(scryptCallback) as (password: Buffer, salt: Buffer, length: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/** The parameter sets go-securesystemslib writes and accepts (legacy, standard, OWASP); any other is refused, so a key file cannot ask for unbounded memory. */
const SCRYPT_PARAMS = [{ N: 32768, r: 8, p: 1 }, { N: 65536, r: 8, p: 1 }, { N: 131072, r: 8, p: 1 }];
const WRITE_PARAMS = SCRYPT_PARAMS[1]!;
const KEY_BYTES = 32;
const NONCE_BYTES = 24;
const SALT_BYTES = 32;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64').transform((s) => Buffer.from(s, 'base64'));
const EncryptedSchema = z.object({
  kdf: z.object({ name: z.literal('scrypt'), params: z.object({ N: z.number().int(), r: z.number().int(), p: z.number().int() }), salt: base64 }),
  cipher: z.object({ name: z.literal('nacl/secretbox'), nonce: base64.refine((b) => b.length === NONCE_BYTES, `must be ${NONCE_BYTES} bytes`) }),
  ciphertext: base64,
});

function deriveKey(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  // scrypt needs 128·N·r bytes (plus a little); Node refuses above maxmem.
  return scrypt(Buffer.from(password, 'utf8'), salt, KEY_BYTES, { ...params, maxmem: 256 * params.N * params.r });
}

/** The PEM block type of a private key file, when it is one of cosign's encrypted keys. */
export function cosignKeyType(pem: string): string | undefined {
  const type = /-----BEGIN ([A-Z ]+)-----/.exec(pem)?.[1];
  return type === SIGSTORE_KEY_PEM || type === COSIGN_KEY_PEM ? type : undefined;
}

function pemBody(pem: string, type: string): Buffer {
  const match = new RegExp(`-----BEGIN ${type}-----([A-Za-z0-9+/=\\s]*)-----END ${type}-----`).exec(pem);
  if (!match) throw new Error('no PEM block');
  return Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
}

/** The PKCS#8 DER of a cosign encrypted key; `where` names the file in errors. */
export async function decryptCosignKey(pem: string, type: string, password: string, where: string): Promise<Buffer> {
  let parsed: z.infer<typeof EncryptedSchema>;
  try {
    const result = EncryptedSchema.safeParse(JSON.parse(pemBody(pem, type).toString('utf8')));
    if (!result.success) throw new Error(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    parsed = result.data;
  } catch (err) {
    throw new UserError(`${where}: not a readable cosign encrypted key (${(err as Error).message})`, { hint: 'give a key written by `cosign generate-key-pair` or `sealbuild key generate --encrypt`' });
  }
  const { params, salt } = parsed.kdf;
  if (!SCRYPT_PARAMS.some((known) => known.N === params.N && known.r === params.r && known.p === params.p)) {
    throw new UserError(`${where}: unsupported scrypt parameters N=${params.N} r=${params.r} p=${params.p}`, { hint: 'cosign writes N=32768, 65536 or 131072 with r=8, p=1' });
  }
  const key = await deriveKey(password, salt, params);
  try {
    return Buffer.from(xsalsa20poly1305(key, parsed.cipher.nonce).decrypt(parsed.ciphertext));
  } catch {
    throw new UserError(`${where}: wrong password (the key does not decrypt)`, { hint: 'set COSIGN_PASSWORD to the password the key was written with' });
  }
}

/** `key` as cosign writes it: PKCS#8 DER, sealed with a fresh salt and nonce, in a PEM block. */
export async function encryptCosignKey(key: KeyObject, password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const box = xsalsa20poly1305(await deriveKey(password, salt, WRITE_PARAMS), nonce).encrypt(key.export({ type: 'pkcs8', format: 'der' }));
  const body = JSON.stringify({
    kdf: { name: 'scrypt', params: WRITE_PARAMS, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(box).toString('base64'),
  });
  const lines = Buffer.from(body).toString('base64').match(/.{1,64}/g)!;
  return `-----BEGIN ${SIGSTORE_KEY_PEM}-----\n${lines.join('\n')}\n-----END ${SIGSTORE_KEY_PEM}-----\n`;
}

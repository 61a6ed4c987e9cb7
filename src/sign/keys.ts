import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UserError } from '../util/errors.js';
import { keyPassword } from '../util/password.js';
import { cosignKeyType, decryptCosignKey, encryptCosignKey } from './cosign-key.js';
import { writeFileAtomic } from '../util/fs-atomic.js';

/**
 * Signing keys: ECDSA P-256, the private key as PKCS#8 PEM (or cosign's encrypted format,
 * cosign-key.ts), the public key as SPKI PEM
 * (`-----BEGIN PUBLIC KEY-----`), which is what containers-policy.json's `keyPath` and
 * cosign's `--key` read.
 */
export async function generateKeyPair(prefix: string, options: { encrypt: boolean }): Promise<{ privatePath: string; publicPath: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  // Encrypted: cosign's format, which `cosign sign --key` reads as it reads its own keys.
  const text = options.encrypt ? await encryptCosignKey(privateKey, await keyPassword(privatePath, true)) : (privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  await writeFileAtomic(privatePath, text, 0o600);
  await writeFileAtomic(publicPath, publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644);
  return { privatePath, publicPath };
}

function requireP256(key: KeyObject, path: string): KeyObject {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new UserError(`${path}: not an ECDSA P-256 key`, { hint: 'make one with `sealbuild key generate`' });
  }
  return key;
}

export async function readPrivateKey(path: string, flag: string): Promise<KeyObject> {
  const pem = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${flag} ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, { hint: 'make a key pair with `sealbuild key generate`' });
  });
  const cosignType = cosignKeyType(pem);
  if (cosignType === undefined && pem.includes('ENCRYPTED')) throw new UserError(`${flag} ${path}: of encrypted private keys, only cosign's format is read`, { hint: 'use a key from `sealbuild key generate [--encrypt]` or `cosign generate-key-pair`' });
  try {
    if (cosignType !== undefined) {
      const der = await decryptCosignKey(pem, cosignType, await keyPassword(path, false), `${flag} ${path}`);
      return requireP256(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }), path);
    }
    return requireP256(createPrivateKey(pem), path);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${flag} ${path}: not a PEM private key`, { hint: 'make a key pair with `sealbuild key generate`' });
  }
}

export async function readPublicKey(path: string, flag: string): Promise<KeyObject> {
  const pem = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`${flag} ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, { hint: 'give the .pub file `sealbuild key generate` wrote' });
  });
  try {
    return requireP256(createPublicKey(pem), path);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${flag} ${path}: not a PEM public key`, { hint: 'give the .pub file `sealbuild key generate` wrote' });
  }
}

import { Command } from 'commander';
import { access } from 'node:fs/promises';
import { parseReference, repositoryName, type Reference } from '../oci/reference.js';
import type { Digest } from '../oci/digest.js';
import { isIndexMediaType } from '../oci/media-types.js';
import { IndexSchema, parseJson } from '../oci/schemas.js';
import type { Registries } from '../registry/registries.js';
import { UserError } from '../util/errors.js';
import { refArg, registriesFor, reporterFor } from './common.js';

/** Loaded on demand: only these commands and flags need node:crypto's key handling. */
const signing = async () => ({ ...(await import('../sign/cosign.js')), ...(await import('../sign/keys.js')) });

export function keyCommand(): Command {
  const key = new Command('key').description('signing keys (ECDSA P-256)');
  key
    .command('generate')
    .description('write a key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (the public key skopeo/podman policies and cosign read)')
    .option('-o, --output <prefix>', 'where to write the pair', 'sealbuild')
    .action(async (flags: { output: string }) => {
      for (const path of [`${flags.output}.key`, `${flags.output}.pub`]) {
        if (await access(path).then(() => true, () => false)) throw new UserError(`${path} exists`, { hint: 'remove it or choose another --output prefix; a key is never overwritten' });
      }
      const { privatePath, publicPath } = await (await signing()).generateKeyPair(flags.output);
      process.stdout.write(`${privatePath}\n${publicPath}\n`);
    });
  return key;
}

/** The digest `ref` names in its registry: its own digest, else what the tag points at. */
export async function remoteDigest(registries: Registries, ref: Reference, shown: string): Promise<Digest> {
  if (ref.digest !== undefined) return ref.digest;
  const digest = await registries.repository(ref).headManifest(ref.tag!);
  if (digest === undefined) throw new UserError(`${shown}: not found in ${ref.domain}`, { hint: 'push it first' });
  return digest;
}

/**
 * Signs `ref`'s digest in its registry with the key at `keyPath`, and each manifest of an
 * index too (as `cosign sign --recursive`): skopeo and podman check the signature of the
 * platform's manifest they copy, not the index's. Returns the top signature's reference.
 */
export async function signRemote(registries: Registries, ref: Reference, digest: Digest, keyPath: string, flag: string): Promise<string> {
  const { readPrivateKey, signImage } = await signing();
  const key = await readPrivateKey(keyPath, flag);
  const repo = registries.repository(ref, true);
  const top = await repo.getManifest(digest);
  if (isIndexMediaType(top.mediaType)) {
    const index = parseJson(IndexSchema, top.bytes, `${repositoryName(ref)}@${digest}`);
    for (const child of index.manifests) await signImage(repo, repositoryName(ref), child.digest, key);
  }
  return `${repositoryName(ref)}:${await signImage(repo, repositoryName(ref), digest, key)}`;
}

/** Refuses unless `ref`'s digest carries a signature by the key at `keyPath`. */
export async function verifyRemote(registries: Registries, ref: Reference, digest: Digest, keyPath: string): Promise<void> {
  const { readPublicKey, registrySignatures, verifySignature } = await signing();
  const key = await readPublicKey(keyPath, '--verify-key');
  await verifySignature(registrySignatures(registries.repository(ref)), repositoryName(ref), digest, key, keyPath);
}

export function signCommand(): Command {
  return new Command('sign')
    .description("sign an image in a registry, in cosign's layout (tag sha256-<hex>.sig): skopeo and podman verify it with a sigstoreSigned policy")
    .argument('<ref>', 'REGISTRY/REPO:TAG or @sha256:…')
    .requiredOption('--key <file>', 'the private key (`sealbuild key generate`)')
    .action(async (text: string, flags: { key: string }, command: Command) => {
      const ref = parseReference(refArg(text));
      const reporter = reporterFor(command);
      const registries = await registriesFor(command);
      try {
        const digest = await remoteDigest(registries, ref, text);
        const signature = await signRemote(registries, ref, digest, flags.key, '--key');
        reporter.info(`Signed ${repositoryName(ref)}@${digest}: ${signature}`);
        process.stdout.write(`${signature}\n`);
      } finally {
        await registries.close();
      }
    });
}

import { Command } from 'commander';
import { access } from 'node:fs/promises';
import { parseReference, repositoryName, type Reference } from '../oci/reference.js';
import { readTagged, type StoredTarget } from '../store/image.js';
import type { Digest } from '../oci/digest.js';
import { isIndexMediaType } from '../oci/media-types.js';
import { IndexSchema, parseJson, type Descriptor } from '../oci/schemas.js';
import type { BlobBatch, Store } from '../store/store.js';
import type { Registries } from '../registry/registries.js';
import { UserError } from '../util/errors.js';
import { refArg, reporterFor, withRegistries } from './common.js';

/** Loaded on demand: only these commands and flags need node:crypto's key handling. */
const signing = async () => ({ ...(await import('../sign/cosign.js')), ...(await import('../sign/keys.js')) });

export function keyCommand(): Command {
  const key = new Command('key').description('signing keys (ECDSA P-256)');
  key
    .command('generate')
    .description('write a key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (the public key skopeo/podman policies and cosign read)')
    .option('-o, --output <prefix>', 'where to write the pair', 'sealbuild')
    .option('--encrypt', "write the private key encrypted in cosign's format (password from COSIGN_PASSWORD, else asked twice on the terminal)")
    .action(async (flags: { output: string; encrypt?: boolean }) => {
      for (const path of [`${flags.output}.key`, `${flags.output}.pub`]) {
        if (await access(path).then(() => true, () => false)) throw new UserError(`${path} exists`, { hint: 'remove it or choose another --output prefix; a key is never overwritten' });
      }
      const { privatePath, publicPath } = await (await signing()).generateKeyPair(flags.output, { encrypt: flags.encrypt === true });
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
      await withRegistries(command, async (registries) => {
        const digest = await remoteDigest(registries, ref, text);
        const signature = await signRemote(registries, ref, digest, flags.key, '--key');
        reporter.info(`Signed ${repositoryName(ref)}@${digest}: ${signature}`);
        process.stdout.write(`${signature}\n`);
      });
    });
}

/** Refuses unless the image named `name`, whose top is `digest`, carries a signature by the key at `keyPath` among the store's signatures (or those of a bundle being loaded). */
export async function verifyStored(store: Store, name: string, digest: Digest, keyPath: string, loading?: { tags: Map<string, Descriptor>; batch: BlobBatch }): Promise<void> {
  const { readPublicKey, verifySignature } = await signing();
  const { storedSignatures } = await import('../sign/stored.js');
  const key = await readPublicKey(keyPath, '--verify-key');
  const repository = repositoryName(parseReference(name));
  await verifySignature(storedSignatures(store, repository, loading?.tags ?? new Map(), loading?.batch), repository, digest, key, keyPath);
}

/**
 * Copies the registry's signatures of an image (its top digest and each platform manifest's)
 * into the store, tagged as in the registry. `localName` is the image's tag in the store,
 * which lists its platform manifests.
 */
export async function keepSignatures(store: Store, registries: Registries, ref: Reference, top: Digest, localName: string): Promise<number> {
  const { storeSignatures } = await import('../sign/stored.js');
  const target = await readTagged(store, localName, localName);
  const digests = [top, ...target.images.map((i) => i.descriptor.digest)];
  return storeSignatures(store, registries.repository(ref), repositoryName(ref), [...new Set(digests)]);
}

/**
 * The stored image `text` names, for `run` and `upgrade`: resolved once, so that with a key the
 * digest whose signature is checked is the very one installed (a tag moved in between changes nothing).
 */
export async function resolveVerified(store: Store, text: string, keyPath: string | undefined): Promise<StoredTarget> {
  const name = refArg(text);
  const target = await readTagged(store, name, text);
  if (keyPath !== undefined) await verifyStored(store, name, target.descriptor.digest, keyPath);
  return target;
}

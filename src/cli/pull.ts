import { Command } from 'commander';
import { hostPlatform, parsePlatformList } from '../oci/platform.js';
import type { Digest } from '../oci/digest.js';
import { parseReference } from '../oci/reference.js';
import { pullImages, type PullRequest } from '../transfer/pull.js';
import { withBuildLease } from '../store/gc.js';
import { UsageError } from '../util/errors.js';
import { openStore, refArg, reporterFor, withRegistries } from './common.js';
import { keepSignatures, remoteDigest, verifyRemote } from './sign.js';

export function pullCommand(): Command {
  return new Command('pull')
    .description('copy an image from a registry into the store')
    .argument('<ref>', 'image reference, e.g. docker.io/library/registry:2.8.3')
    .option('--platform <list>', 'platforms to fetch from a multi-platform image (default: this machine)')
    .option('--all-platforms', 'fetch every platform')
    .option('--verify-key <file>', 'refuse the image unless a signature by this public key (cosign layout) signs its digest; what is pulled is that digest')
    .action(async (ref: string, flags: { platform?: string; allPlatforms?: boolean; verifyKey?: string }, command: Command) => {
      const name = refArg(ref);
      if (flags.platform !== undefined && flags.allPlatforms) throw new UsageError('--platform and --all-platforms exclude each other', 'pick one');
      const platforms = flags.allPlatforms ? 'all' : flags.platform !== undefined ? parsePlatformList(flags.platform) : [hostPlatform()];
      const reporter = reporterFor(command);
      const store = await openStore(command);
      await withRegistries(command, async (registries) => {
        let verified: Digest | undefined;
        if (flags.verifyKey !== undefined) {
          // Verified before anything is stored, and pulled by the digest that was verified.
          const parsed = parseReference(name);
          verified = await remoteDigest(registries, parsed, ref);
          await verifyRemote(registries, parsed, verified, flags.verifyKey);
          reporter.info(`Verified the signature of ${name} (${verified}) with ${flags.verifyKey}`);
        }
        const request: PullRequest = { ref, platforms, ...(verified ? { digest: verified } : {}) };
        // A lease, like a build's: prune must not delete a blob this pull found present and skipped.
        const [result] = (await withBuildLease(store, () => pullImages(store, [request], { registries, reporter }))).images;
        if (verified) {
          // Kept, so that `save` carries them and `load --verify-key` checks them offline.
          const kept = await keepSignatures(store, registries, parseReference(name), result!.descriptor.digest, result!.name);
          reporter.info(`Kept ${kept} signature manifest(s) of ${name} in the store`);
        }
        process.stdout.write(`${result!.descriptor.digest}\n`);
      });
    });
}

import { Command } from 'commander';
import { parseReference } from '../oci/reference.js';
import { pushImage } from '../transfer/push.js';
import { openStore, refArg, reporterFor, withRegistries } from './common.js';
import { keepSignatures, signRemote } from './sign.js';

export function pushCommand(): Command {
  return new Command('push')
    .description('copy an image from the store to a registry; a ClusterImage gets its SBOM (SPDX, see `sealbuild sbom`) attached as an OCI referrer of each platform')
    .argument('<ref>', 'image in the store')
    .argument('[destination]', 'where to push (default: the image name itself)')
    .option('--sign-key <file>', "sign what was pushed with this private key, in cosign's layout (see `sealbuild sign`)")
    .action(async (ref: string, destination: string | undefined, flags: { signKey?: string }, command: Command) => {
      const name = refArg(ref);
      if (destination !== undefined) refArg(destination);
      const reporter = reporterFor(command);
      const store = await openStore(command, { create: false });
      await withRegistries(command, async (registries) => {
        const result = await pushImage(store, name, ref, destination, { registries, reporter });
        const { attachSboms } = await import('../sbom/image-sbom.js');
        for (const sbom of await attachSboms(store, registries, name, result.destination)) {
          reporter.info(`Attached the SBOM of ${sbom.platform} (${sbom.digest}) to ${result.destination} (${sbom.via})`);
        }
        if (flags.signKey !== undefined) {
          const signature = await signRemote(registries, parseReference(result.destination), result.digest, flags.signKey, '--sign-key');
          reporter.info(`Signed ${result.destination}: ${signature}`);
          // Kept, so that `save` carries them and `load --verify-key` checks them offline.
          await keepSignatures(store, registries, parseReference(result.destination), result.digest, name);
        }
        process.stdout.write(`${result.digest}\n`);
      });
    });
}

import { Command } from 'commander';
import { hostPlatform, parsePlatformList } from '../oci/platform.js';
import { pullImage } from '../registry/pull.js';
import { withBuildLease } from '../store/gc.js';
import { UsageError } from '../util/errors.js';
import { openStore, refArg, registriesFor, reporterFor } from './common.js';

export function pullCommand(): Command {
  return new Command('pull')
    .description('copy an image from a registry into the store')
    .argument('<ref>', 'image reference, e.g. docker.io/library/registry:2.8.3')
    .option('--platform <list>', 'platforms to fetch from a multi-platform image (default: this machine)')
    .option('--all-platforms', 'fetch every platform')
    .action(async (ref: string, flags: { platform?: string; allPlatforms?: boolean }, command: Command) => {
      refArg(ref);
      if (flags.platform !== undefined && flags.allPlatforms) throw new UsageError('--platform and --all-platforms exclude each other', 'pick one');
      const platforms = flags.allPlatforms ? 'all' : flags.platform !== undefined ? parsePlatformList(flags.platform) : [hostPlatform()];
      const reporter = reporterFor(command);
      const store = await openStore(command);
      const registries = await registriesFor(command);
      try {
        // A lease, like a build's: prune must not delete a blob this pull found present and skipped.
        const result = await withBuildLease(store, () => pullImage(store, ref, { platforms, registries, reporter }));
        process.stdout.write(`${result.descriptor.digest}\n`);
      } finally {
        await registries.close();
      }
    });
}

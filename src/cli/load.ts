import { Command } from 'commander';
import { loadBundle } from '../store/bundle.js';
import { openStore, reporterFor } from './common.js';

export function loadCommand(): Command {
  return new Command('load')
    .description('import the images of an archive or OCI layout directory written by `save` (every checksum verified before anything enters the store)')
    .requiredOption('-i, --input <path>', 'the archive (.tar, .tar.gz, .tar.zst; compression is detected) or OCI layout directory')
    .action(async (flags: { input: string }, command: Command) => {
      const reporter = reporterFor(command);
      const store = await openStore(command);
      const result = await loadBundle(store, flags.input);
      reporter.info(`Loaded ${result.images.length} image(s), ${result.newBlobs} new blob(s) from ${flags.input}`);
      for (const image of result.images) process.stdout.write(`${image.name} ${image.descriptor.digest}\n`);
    });
}

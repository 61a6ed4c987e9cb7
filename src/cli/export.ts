import { Command } from 'commander';
import { parsePlatform } from '../oci/platform.js';
import { exportRootfs } from '../store/export.js';
import { choosePlatform, readTagged } from '../store/image.js';
import { openStore, refArg, reporterFor } from './common.js';

export function exportCommand(): Command {
  return new Command('export')
    .description("unpack an image's rootfs into a directory, as a runtime would see it")
    .argument('<ref>', 'image reference')
    .requiredOption('-o, --output <dir>', 'an empty or new directory')
    .option('--platform <os/arch>', 'which platform of a multi-platform image')
    .action(async (ref: string, flags: { output: string; platform?: string }, command: Command) => {
      const name = refArg(ref);
      const wanted = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
      const reporter = reporterFor(command);
      const store = await openStore(command, { create: false });
      const target = await readTagged(store, name, ref);
      const image = choosePlatform(target, wanted, ref);
      const { skipped } = await exportRootfs(store, image, flags.output, name);
      if (skipped > 0) reporter.warn(`${skipped} device or FIFO entries were not created`);
    });
}

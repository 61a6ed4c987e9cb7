import { Command } from 'commander';
import { pushImage } from '../registry/push.js';
import { openStore, refArg, registriesFor, reporterFor } from './common.js';

export function pushCommand(): Command {
  return new Command('push')
    .description('copy an image from the store to a registry')
    .argument('<ref>', 'image in the store')
    .argument('[destination]', 'where to push (default: the image name itself)')
    .action(async (ref: string, destination: string | undefined, _flags: unknown, command: Command) => {
      const name = refArg(ref);
      if (destination !== undefined) refArg(destination);
      const reporter = reporterFor(command);
      const store = await openStore(command, { create: false });
      const registries = await registriesFor(command);
      try {
        const result = await pushImage(store, name, ref, destination, { registries, reporter });
        process.stdout.write(`${result.digest}\n`);
      } finally {
        await registries.close();
      }
    });
}

import { Command } from 'commander';
import { readTagged } from '../store/image.js';
import { SAVE_FORMATS, saveImages, type SaveFormat } from '../store/archive.js';
import { UsageError } from '../util/errors.js';
import { openStore, refArg } from './common.js';

export function saveCommand(): Command {
  return new Command('save')
    .description('write images to an OCI archive (tar) or an OCI layout directory')
    .argument('<refs...>', 'image references')
    .requiredOption('-o, --output <path>', 'the file (oci-archive) or directory (oci-dir) to write')
    .option('--format <format>', `${SAVE_FORMATS.join('|')}`, 'oci-archive')
    .action(async (refs: string[], flags: { output: string; format: string }, command: Command) => {
      if (!SAVE_FORMATS.includes(flags.format as SaveFormat)) throw new UsageError(`--format: unknown format "${flags.format}"`, `use one of ${SAVE_FORMATS.join(', ')}`);
      const names = refs.map(refArg);
      const store = await openStore(command);
      const images = [];
      for (const [i, name] of names.entries()) images.push({ name, descriptor: (await readTagged(store, name, refs[i]!)).descriptor });
      await saveImages(store, images, flags.output, flags.format as SaveFormat);
    });
}

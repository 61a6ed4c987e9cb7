import { Command } from 'commander';
import type { Descriptor } from '../oci/schemas.js';
import { isSignatureTag } from '../sign/stored.js';
import { loadBundle, type LoadCheck } from '../store/bundle.js';
import { openStore, reporterFor } from './common.js';
import { verifyStored } from './sign.js';

export function loadCommand(): Command {
  return new Command('load')
    .description('import the images of an archive or OCI layout directory written by `save` (every checksum verified before anything enters the store)')
    .requiredOption('-i, --input <path>', 'the archive (.tar, .tar.gz, .tar.zst; compression is detected) or OCI layout directory')
    .option('--verify-key <file>', 'refuse the bundle unless each image in it carries a signature by this public key (cosign layout, saved with it); nothing is imported otherwise')
    .action(async (flags: { input: string; verifyKey?: string }, command: Command) => {
      const reporter = reporterFor(command);
      const store = await openStore(command);
      const keyPath = flags.verifyKey;
      const check: LoadCheck | undefined = keyPath === undefined ? undefined : async (images, batch) => {
        const tags = new Map<string, Descriptor>(images.map((i) => [i.name, i.descriptor]));
        for (const image of images.filter((i) => !isSignatureTag(i.name))) await verifyStored(store, image.name, image.descriptor.digest, keyPath, { tags, batch });
      };
      const result = await loadBundle(store, flags.input, check);
      const images = result.images.filter((i) => !isSignatureTag(i.name));
      const signatures = result.images.length - images.length;
      reporter.info(`Loaded ${images.length} image(s)${signatures > 0 ? ` and ${signatures} signature manifest(s)` : ''}, ${result.newBlobs} new blob(s) from ${flags.input}${keyPath !== undefined ? `; signatures verified with ${keyPath}` : ''}`);
      for (const image of images) process.stdout.write(`${image.name} ${image.descriptor.digest}\n`);
    });
}

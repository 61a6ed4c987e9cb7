import { Command } from 'commander';
import type { Descriptor } from '../oci/schemas.js';
import { isSignatureTag } from '../sign/stored.js';
import { NotABundleError, loadBundle, type LoadCheck } from '../store/bundle.js';
import { loadImageArchive } from '../airgap/load-image-archive.js';
import { UserError } from '../util/errors.js';
import { openStore, reporterFor, withRegistries } from './common.js';
import { verifyStored } from './sign.js';

export function loadCommand(): Command {
  return new Command('load')
    .description('import the images of an archive or OCI layout directory written by `save`, `docker save` or skopeo (every checksum verified before anything enters the store)')
    .requiredOption('-i, --input <path>', 'the bundle, oci-archive or docker-archive (.tar, .tar.gz, .tar.zst; compression is detected) or OCI layout directory')
    .option('--verify-key <file>', 'refuse the bundle unless each image in it carries a signature by this public key (cosign layout, saved with it); nothing is imported otherwise')
    .action(async (flags: { input: string; verifyKey?: string }, command: Command) => {
      const reporter = reporterFor(command);
      const store = await openStore(command);
      const keyPath = flags.verifyKey;
      const check: LoadCheck | undefined = keyPath === undefined ? undefined : async ({ images, attachments }, batch) => {
        const tags = new Map<string, Descriptor>([...images, ...attachments].map((i) => [i.name, i.descriptor]));
        for (const image of images.filter((i) => !isSignatureTag(i.name))) await verifyStored(store, image.name, image.descriptor.digest, keyPath, { tags, batch });
      };
      const result = await loadBundle(store, flags.input, check).catch(async (err: unknown) => {
        if (!(err instanceof NotABundleError)) throw err;
        // docker save, skopeo, save --format docker-archive: no signatures, tags as the archive names them.
        if (keyPath !== undefined) throw new UserError(`cannot load ${flags.input} with --verify-key: it is not a bundle written by \`sealbuild save\`, so it carries no signatures`, { hint: 'save the signed images with `sealbuild save` (oci-archive), or load without --verify-key' });
        const images = await withRegistries(command, (registries) => loadImageArchive(store, flags.input, { registries, reporter }));
        reporter.info(`Loaded ${images.length} image(s) from ${flags.input}`);
        for (const image of images) process.stdout.write(`${image.name} ${image.descriptor.digest}\n`);
        return undefined;
      });
      if (result === undefined) return;
      // Bundles written before attachments had their own place listed signatures as images.
      const images = result.images.filter((i) => !isSignatureTag(i.name));
      const signatures = result.images.length - images.length + result.attachments.filter((a) => isSignatureTag(a.name)).length;
      const sboms = result.attachments.length - result.attachments.filter((a) => isSignatureTag(a.name)).length;
      const carried = [signatures > 0 ? `${signatures} signature manifest(s)` : '', sboms > 0 ? `${sboms} SBOM(s)` : ''].filter((s) => s !== '');
      reporter.info(`Loaded ${images.length} image(s)${carried.length > 0 ? ` and ${carried.join(' and ')}` : ''}, ${result.newBlobs} new blob(s) from ${flags.input}${keyPath !== undefined ? `; signatures verified with ${keyPath}` : ''}`);
      for (const image of images) process.stdout.write(`${image.name} ${image.descriptor.digest}\n`);
    });
}

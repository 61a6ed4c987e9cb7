import { Command } from 'commander';
import { parsePlatform } from '../oci/platform.js';
import { sbomDocument, sbomReferrer } from '../sbom/image-sbom.js';
import { choosePlatform, readTagged } from '../store/image.js';
import { openStore, refArg } from './common.js';

export function sbomCommand(): Command {
  return new Command('sbom')
    .description("print an image's SBOM as SPDX 2.3 JSON: files under bin/ and every ELF file with their digests and Go module versions, cached container images with digest and platform, charts, the base image (`push` attaches it as an OCI referrer, `save` carries it; one a bundle brought is printed as it came)")
    .argument('<ref>', 'image in the store')
    .option('--platform <os/arch[/variant]>', 'which platform of a multi-platform image (default: the only one, else this machine)')
    .action(async (ref: string, flags: { platform?: string }, command: Command) => {
      const name = refArg(ref);
      const wanted = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
      const store = await openStore(command, { create: false });
      const image = choosePlatform(await readTagged(store, name, ref), wanted, ref);
      process.stdout.write(sbomDocument((await sbomReferrer(store, name, image)).referrer));
    });
}

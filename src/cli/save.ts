import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import { parsePlatform } from '../oci/platform.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/schemas.js';
import { signatureTags } from '../sign/stored.js';
import { readTagged, readTarget } from '../store/image.js';
import type { Store } from '../store/store.js';
import { ARCHIVE_COMPRESSIONS, SAVE_FORMATS, compressionForName, saveImages, type ArchiveCompression, type SaveFormat } from '../store/archive.js';
import { UsageError } from '../util/errors.js';
import { formatBytes } from '../util/reporter.js';
import { openStore, refArg, reporterFor } from './common.js';

interface SaveFlags {
  output: string;
  format: string;
  compress?: string;
  platform?: string;
  since?: string;
}

/** `--compress`, else what the file name says (`.tar.zst`, `.tar.gz`); only tars compress. */
function archiveCompression(flags: SaveFlags): ArchiveCompression {
  if (flags.compress === undefined) return flags.format === 'oci-dir' ? 'none' : compressionForName(flags.output);
  if (!ARCHIVE_COMPRESSIONS.includes(flags.compress as ArchiveCompression)) throw new UsageError(`--compress: unknown value "${flags.compress}"`, `use one of ${ARCHIVE_COMPRESSIONS.join(', ')}`);
  if (flags.format === 'oci-dir' && flags.compress !== 'none') throw new UsageError(`--compress ${flags.compress} does not apply to --format oci-dir`, 'compress an archive, or leave --compress out');
  return flags.compress as ArchiveCompression;
}

/** The digests of the images and of their platform manifests: what signatures sign. */
async function savedDigests(store: Store, descriptors: Descriptor[]): Promise<Digest[]> {
  const digests: Digest[] = [];
  for (const descriptor of descriptors) digests.push(descriptor.digest, ...(await readTarget(store, descriptor)).images.map((i) => i.descriptor.digest));
  return digests;
}

export function saveCommand(): Command {
  return new Command('save')
    .description('write images to one archive (an OCI layout in a tar, each blob once, with SHA256SUMS), a docker-archive, or an OCI layout directory')
    .argument('<refs...>', 'image references')
    .requiredOption('-o, --output <path>', 'the file (oci-archive, docker-archive) or directory (oci-dir) to write')
    .option('--format <format>', `${SAVE_FORMATS.join('|')}`, 'oci-archive')
    .option('--platform <os/arch[/variant]>', 'save only this platform of each image (default: every platform; docker-archive: this machine)')
    .option('--compress <zstd|gzip|none>', 'compress the whole archive (default: from the name: .tar.zst, .tar.gz, else none)')
    .option('--since <ref>', 'oci-archive: a delta that leaves out every blob of this image (the far side must have loaded it); `load` names it when it is missing')
    .action(async (refs: string[], flags: SaveFlags, command: Command) => {
      if (!SAVE_FORMATS.includes(flags.format as SaveFormat)) throw new UsageError(`--format: unknown format "${flags.format}"`, `use one of ${SAVE_FORMATS.join(', ')}`);
      const compression = archiveCompression(flags);
      if (flags.since !== undefined && flags.format !== 'oci-archive') throw new UsageError('--since applies to --format oci-archive only', 'write the delta as an oci-archive');
      const platform = flags.platform !== undefined ? parsePlatform(flags.platform) : undefined;
      const names = refs.map(refArg);
      const reporter = reporterFor(command);
      const store = await openStore(command, { create: false });
      const images = [];
      for (const [i, name] of names.entries()) images.push({ name, descriptor: (await readTagged(store, name, refs[i]!)).descriptor });
      const since = flags.since === undefined ? undefined : { name: refArg(flags.since), descriptor: (await readTagged(store, refArg(flags.since), flags.since)).descriptor };
      // Signatures of what is saved travel with it (a docker-archive has no place for them).
      const attachments = flags.format === 'docker-archive' ? [] : await signatureTags(store, await savedDigests(store, images.map((i) => i.descriptor)));
      const saved = await saveImages(store, images, flags.output, flags.format as SaveFormat, { compression, attachments, ...(platform ? { platform } : {}), ...(since ? { since } : {}) });
      const size = flags.format === 'oci-dir' ? undefined : (await stat(flags.output)).size;
      reporter.info(`Wrote ${flags.output}: ${flags.format}${compression === 'none' ? '' : ` (${compression})`}, ${saved.length} image(s)${size === undefined ? '' : `, ${formatBytes(size)}`}`);
      // As load prints them: what is in the archive, by name and digest.
      for (const image of saved) process.stdout.write(`${image.name} ${image.descriptor.digest}\n`);
      if (attachments.length > 0) reporter.info(`${flags.output} carries ${attachments.length} signature manifest(s): \`load --verify-key\` checks them`);
      if (since) reporter.info(`${flags.output} is a delta: loading it needs ${since.name} (${since.descriptor.digest}) in the store`);
    });
}

import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import { parsePlatform, type Platform } from '../oci/platform.js';
import type { Digest } from '../oci/digest.js';
import { keepSboms } from '../sbom/image-sbom.js';
import { attachmentTags } from '../store/attachments.js';
import { isSignatureTag } from '../sign/stored.js';
import { readTagged, readTarget, selectPlatform } from '../store/image.js';
import type { Store } from '../store/store.js';
import { ARCHIVE_COMPRESSIONS, SAVE_FORMATS, compressionForName, saveImages, type ArchiveCompression, type SavedImage, type SaveFormat } from '../store/archive.js';
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

/**
 * What travels with the saved images: the signatures of each (its top digest and its saved
 * platforms' manifests) and the SBOM of each saved platform, kept in the store first, so a
 * later save or push carries the same document.
 */
async function savedAttachments(store: Store, images: SavedImage[], platform: Platform | undefined): Promise<SavedImage[]> {
  const digests: Digest[] = [];
  for (const image of images) {
    const target = await readTarget(store, image.descriptor);
    const platforms = platform === undefined ? target.images : [selectPlatform(target, platform, image.name)];
    await keepSboms(store, image.name, platforms);
    digests.push(image.descriptor.digest, ...platforms.map((i) => i.descriptor.digest));
  }
  return attachmentTags(store, digests);
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
      // A docker-archive has no place for signatures and SBOMs.
      const attachments = flags.format === 'docker-archive' ? [] : await savedAttachments(store, images, platform);
      const saved = await saveImages(store, images, flags.output, flags.format as SaveFormat, { compression, attachments, ...(platform ? { platform } : {}), ...(since ? { since } : {}) });
      const size = flags.format === 'oci-dir' ? undefined : (await stat(flags.output)).size;
      reporter.info(`Wrote ${flags.output}: ${flags.format}${compression === 'none' ? '' : ` (${compression})`}, ${saved.length} image(s)${size === undefined ? '' : `, ${formatBytes(size)}`}`);
      // As load prints them: what is in the archive, by name and digest.
      for (const image of saved) process.stdout.write(`${image.name} ${image.descriptor.digest}\n`);
      const signatures = attachments.filter((a) => isSignatureTag(a.name)).length;
      if (signatures > 0) reporter.info(`${flags.output} carries ${signatures} signature manifest(s): \`load --verify-key\` checks them`);
      const sboms = attachments.length - signatures;
      if (sboms > 0) reporter.info(`${flags.output} carries ${sboms} SBOM(s), one per platform image: \`load\` keeps them for \`push\` and \`sbom\``);
      if (since) reporter.info(`${flags.output} is a delta: loading it needs ${since.name} (${since.descriptor.digest}) in the store`);
    });
}

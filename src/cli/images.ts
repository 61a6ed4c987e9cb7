import { Command } from 'commander';
import { shortDigest } from '../oci/digest.js';
import { formatPlatform, normalizePlatform } from '../oci/platform.js';
import { familiarName, parseReference } from '../oci/reference.js';
import type { Descriptor } from '../oci/schemas.js';
import { imageBlobs } from '../store/archive.js';
import { isAttachmentTag } from '../store/attachments.js';
import { readTarget } from '../store/image.js';
import { formatBytes } from '../util/reporter.js';
import { openStore, printJson } from './common.js';

/** An index entry the store lacks, by its platform (an index made by `manifest create` names them all). */
function absentPlatform(entry: Descriptor): string {
  return entry.platform ? formatPlatform(normalizePlatform(entry.platform)) : shortDigest(entry.digest);
}

export function imagesCommand(): Command {
  return new Command('images')
    .description('list the images in the store (a platform marked "(not pulled)" is named by an index but not in the store; signatures and SBOMs kept for images are not listed)')
    .option('--json', 'print JSON')
    .option('--names', 'print only the names, one a line (for scripts and shell completion)')
    .action(async (flags: { json?: boolean; names?: boolean }, command: Command) => {
      const store = await openStore(command, { create: false });
      // Signatures and SBOM referrer indexes are about images, not images: `save` carries them with theirs.
      const tags = (await store.listTags()).filter((t) => !isAttachmentTag(t.name));
      if (flags.names) {
        // As people type them (my/app:v1, not docker.io/my/app:v1).
        const names = tags.map(({ name }) => parseReference(name)).map((ref) => `${familiarName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}`);
        for (const name of names.sort()) process.stdout.write(`${name}\n`);
        return;
      }
      const rows = [];
      for (const { name, descriptor } of tags) {
        const target = await readTarget(store, descriptor);
        const ref = parseReference(name);
        const size = (await imageBlobs(store, descriptor)).reduce((sum, blob) => sum + blob.size, 0);
        // The newest of its images: an index made from several builds is as new as its last one.
        const created = target.images.map((image) => image.config.created ?? '').sort().at(-1) ?? '';
        rows.push({
          name,
          repository: familiarName(ref),
          tag: ref.tag ?? '<none>',
          digest: descriptor.digest,
          platforms: [...target.images.map((image) => formatPlatform(image.platform)), ...target.missing.map(absentPlatform)],
          notPulled: target.missing.map(absentPlatform),
          size,
          created,
        });
      }
      rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      if (flags.json) return printJson(rows);
      const table = [['REPOSITORY', 'TAG', 'DIGEST', 'PLATFORMS', 'SIZE', 'CREATED']];
      for (const r of rows) {
        const platforms = r.platforms.map((p, i) => (i >= r.platforms.length - r.notPulled.length ? `${p}(not pulled)` : p)).join(',');
        table.push([r.repository, r.tag, shortDigest(r.digest), platforms, formatBytes(r.size), r.created === '' ? '-' : r.created]);
      }
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
    });
}

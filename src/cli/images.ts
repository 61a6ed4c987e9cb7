import { Command } from 'commander';
import { shortDigest } from '../oci/digest.js';
import { formatPlatform } from '../oci/platform.js';
import { familiarName, parseReference } from '../oci/reference.js';
import { imageBlobs } from '../store/archive.js';
import { readTarget } from '../store/image.js';
import { formatBytes } from '../util/reporter.js';
import { openStore, printJson } from './common.js';

export function imagesCommand(): Command {
  return new Command('images')
    .description('list the images in the store')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      const store = await openStore(command, { create: false });
      const rows = [];
      for (const { name, descriptor } of await store.listTags()) {
        const target = await readTarget(store, descriptor);
        const ref = parseReference(name);
        const size = (await imageBlobs(store, descriptor)).reduce((sum, blob) => sum + blob.size, 0);
        rows.push({
          name,
          repository: familiarName(ref),
          tag: ref.tag ?? '<none>',
          digest: descriptor.digest,
          platforms: target.images.map((image) => formatPlatform(image.platform)),
          size,
          created: target.images[0]?.config.created ?? '',
        });
      }
      rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      if (flags.json) return printJson(rows);
      const table = [['REPOSITORY', 'TAG', 'DIGEST', 'PLATFORMS', 'SIZE', 'CREATED']];
      for (const r of rows) table.push([r.repository, r.tag, shortDigest(r.digest), r.platforms.join(','), formatBytes(r.size), r.created]);
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
    });
}

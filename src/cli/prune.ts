import { Command } from 'commander';
import { prune } from '../store/gc.js';
import { formatBytes } from '../util/reporter.js';
import { openStore, reporterFor } from './common.js';

export function pruneCommand(): Command {
  return new Command('prune')
    .description('remove the build cache and every blob no tagged image uses')
    .action(async (_flags: unknown, command: Command) => {
      const reporter = reporterFor(command);
      const result = await prune(await openStore(command), { waiting: (message) => reporter.info(message) });
      process.stdout.write(`Removed ${result.cacheEntries} cache entries and ${result.blobs} blobs (${formatBytes(result.bytes)})\n`);
    });
}

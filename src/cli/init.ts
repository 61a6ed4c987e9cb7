import { join, relative } from 'node:path';
import { Command } from 'commander';
import { CLUSTER_RUNTIMES, isClusterRuntime } from '../runtime/runtimes.js';
import { BASEFS_DIR, defaultBase, scaffold } from '../runtime/scaffold.js';
import { UsageError } from '../util/errors.js';
import { refArg } from './common.js';

export function initCommand(): Command {
  return new Command('init')
    .description('write a build context for a ClusterImage of the given cluster runtime')
    .argument('<dir>', 'a new or empty directory')
    .requiredOption('--runtime <k3s|k0s|kubernetes>', 'the cluster runtime')
    .option('--base <ref>', "the base image (default: sealbuild/<runtime>:<version pinned in sealbuild's basefs>)")
    .action(async (dir: string, flags: { runtime: string; base?: string }) => {
      if (!isClusterRuntime(flags.runtime)) throw new UsageError(`--runtime: unknown cluster runtime "${flags.runtime}"`, `use one of ${CLUSTER_RUNTIMES.join(', ')}`);
      const base = flags.base !== undefined ? refArg(flags.base) : await defaultBase(flags.runtime);
      const files = await scaffold(flags.runtime, dir, base);
      // docker's short form: docker.io/sealbuild/k3s:v1 is sealbuild/k3s:v1.
      const shown = base.replace(/^docker\.io\//, '');
      const out = (line: string) => process.stdout.write(`${line}\n`);
      out(`wrote ${dir}: ${files.join(', ')} (FROM ${shown})`);
      out('next:');
      if (flags.base === undefined) out(`  sealbuild -t ${shown} --platform linux/amd64,linux/arm64 ${relative(process.cwd(), join(BASEFS_DIR, flags.runtime)) || '.'}   # the base, once (see basefs/README.md)`);
      out(`  sealbuild -t my/${flags.runtime}-cluster:v1 --platform linux/amd64,linux/arm64 ${dir}`);
      out(`  sealbuild verify my/${flags.runtime}-cluster:v1`);
    });
}

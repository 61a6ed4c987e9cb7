#!/usr/bin/env -S node --max-semi-space-size=4
import module from 'node:module';
import { VERSION } from '../version.js';

/**
 * The installed bin (bundled by scripts/bundle.mjs as dist/cli/sealbuild.cjs, with the version
 * written in; the single executable's entry too, scripts/build-sea.mjs). `sealbuild --version`
 * answers here, before the option parser and the command table load: that is Node's start-up
 * and one small file. Everything else goes to main.ts.
 *
 * The shebang caps V8's young generation (semi-spaces of 4 MiB instead of up to 16): a build
 * moves many short-lived objects per 1 MiB buffer on the main thread, and the larger default
 * held 25-30 MiB more at peak (1 GiB bench context, gzip: 199-205 MiB against 171-172, the same
 * CPU). Node cannot set this on itself once started, so it is given where Node starts.
 */
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${VERSION}\n`);
} else {
  // Node 22+ keeps the code it compiled on disk, so every chunk a command loads (main.ts and
  // what it imports included) starts faster from the second run on. Node 20 has no such cache.
  (module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  // Not awaited at the top level: the single executable's CommonJS bundle cannot. main.ts runs itself.
  void import('./main.js');
}

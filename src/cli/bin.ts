#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS SEALBUILD_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node --max-semi-space-size=4
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
 *
 * It also hands NODE_EXTRA_CA_CERTS to sealbuild under another name: Node parses that file (often
 * the whole system bundle) at every start, 90 ms here, before any of our code runs. It is put back
 * below, for child processes and for the TLS connections, which read it when they first connect
 * (util/trusted-cas.ts).
 */
const carried = process.env.SEALBUILD_EXTRA_CA_CERTS;
if (carried !== undefined) {
  delete process.env.SEALBUILD_EXTRA_CA_CERTS;
  if (carried !== '') process.env.NODE_EXTRA_CA_CERTS = carried;
}
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

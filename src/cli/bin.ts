#!/usr/bin/env node
import { VERSION } from '../version.js';

/**
 * The installed bin (bundled by scripts/bundle.mjs as dist/cli/sealbuild.js). `sealbuild
 * --version` answers here, before the option parser and the command table load: that is
 * Node's start-up and one small module. Everything else goes to main.ts.
 */
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) process.stdout.write(`${VERSION}\n`);
else await import('./main.js');

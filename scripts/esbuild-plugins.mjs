// esbuild plugins shared by scripts/bundle.mjs (the npm bin) and scripts/build-sea.mjs (the
// single executable).
import { readFileSync } from 'node:fs';

/**
 * zod's `z` namespace re-exports `locales`: the error messages in every language zod has (62 besides English), about half
 * of the zod code in the bundle (288 KB of 582 KB). sealbuild never switches zod's language
 * (`z.config` is not called) and zod's default, English, is imported by zod itself from
 * locales/en.js, so the namespace is cut down to `en`. Every command that reads a document
 * parses this code on start-up: without the other locales, loading zod takes about a third
 * less CPU (measured 77-87 against 43-62 ms, 6 runs each, at load average 20).
 */
export const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: args.importer, namespace: 'zod-locales' } : undefined,
    );
    // Resolved from the importer's directory: zod/v4/classic/ or zod/v4/core/, both beside locales/.
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: "export { default as en } from '../locales/en.js';",
      resolveDir: args.path.replace(/[\\/][^\\/]*$/, ''),
    }));
  },
};

/**
 * src/version.ts as the constant it reads from package.json, for the bin's own file
 * (scripts/bundle.mjs): `sealbuild --version` then imports no other module (src/package-root.ts
 * climbs to package.json, and each further module is a file for Node to resolve, read and link).
 * The package.json read here is the one the bundle ships with.
 */
export const versionInlined = {
  name: 'version-inlined',
  setup(build) {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
    build.onLoad({ filter: /[\\/]src[\\/]version\.ts$/ }, () => ({ contents: `export const VERSION = ${JSON.stringify(version)};`, loader: 'ts' }));
  },
};

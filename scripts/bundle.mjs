// Bundles the CLI into dist/cli/ with esbuild: sealbuild.js (the bin) plus the chunks only some
// commands load (the build machinery, registries, ...) and the worker threads' script (hashing,
// gzip). Every library is compiled in, so the package needs no node_modules at run time
// (package.json has no "dependencies"; add libraries with `npm install -D`).
import { rm } from 'node:fs/promises';
import { build } from 'esbuild';
import { zodEnglishOnly } from './esbuild-plugins.mjs';

const outdir = 'dist/cli';
await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { sealbuild: 'src/cli/bin.ts', 'byte-worker': 'src/util/byte-worker.ts' },
  outdir,
  bundle: true,
  // Dynamic import() stays lazy: a command loads only the chunks it uses.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax only: names stay readable in --debug stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  // ssh2's optional native speed-ups; it falls back to JavaScript without them.
  external: ['*.node', 'cpu-features'],
  // Bundled CommonJS libraries call require() for Node's own modules, and ssh2 reads __dirname.
  banner: {
    js: [
      "import { createRequire as __sealbuildRequire } from 'node:module';",
      "import { dirname as __sealbuildDirname } from 'node:path';",
      "import { fileURLToPath as __sealbuildPath } from 'node:url';",
      'const require = __sealbuildRequire(import.meta.url);',
      'const __filename = __sealbuildPath(import.meta.url);',
      'const __dirname = __sealbuildDirname(__filename);',
    ].join(' '),
  },
  plugins: [zodEnglishOnly],
  logLevel: 'warning',
});

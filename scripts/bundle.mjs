// Bundles the CLI into dist/cli/ with esbuild: sealbuild.cjs (the bin), main.js and the chunks
// only some commands load, and the worker threads' script (hashing, gzip). Every library is
// compiled in, so the package needs no node_modules at run time (package.json has no
// "dependencies"; add libraries with `npm install -D`).
import { rm } from 'node:fs/promises';
import { build } from 'esbuild';
import { versionInlined, zodEnglishOnly } from './esbuild-plugins.mjs';

const outdir = 'dist/cli';
await rm(outdir, { recursive: true, force: true });
const common = {
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax only: names stay readable in --debug stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  logLevel: 'warning',
};

// The bin (src/cli/bin.ts) on its own, as CommonJS: the version is written into it and main.js
// is imported only when a command runs, so `sealbuild --version` is Node's start plus one file of
// a few hundred bytes, and Node never sets up its ES module loader for it (about 15 ms of CPU).
await build({
  ...common,
  entryPoints: { sealbuild: 'src/cli/bin.ts' },
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  plugins: [versionInlined, { name: 'main-beside', setup: (b) => b.onResolve({ filter: /^\.\/main\.js$/ }, () => ({ path: './main.js', external: true })) }],
});

// Everything else: main.js (the option parser and the command table) plus the chunks only some
// commands load (the build machinery, registries, ...), and the worker threads' script (hashing, gzip).
await build({
  ...common,
  entryPoints: { main: 'src/cli/main.ts', 'byte-worker': 'src/util/byte-worker.ts' },
  // Dynamic import() stays lazy: a command loads only the chunks it uses.
  splitting: true,
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
});

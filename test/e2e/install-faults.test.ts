import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, sealbuild, sealbuildOk, tempDir, type RunResult } from '../helpers/cli.js';
import { buildClusterImage } from '../helpers/cluster-images.js';
import { TestBed } from '../helpers/testbed.js';

/*
 * Faults during `sealbuild run` of a k3s ClusterImage on two test-bed hosts: each fails within
 * 60 s with one line naming the host and the phase, records nothing that did not happen, and
 * the same command completes once the fault is gone.
 */

const bed = new TestBed('sbif', '198.18.5');
const netPattern = bed.net.replaceAll('.', '\\.');
let work: string;
let root: string;
let ips: string[];

before(async () => {
  await bed.down();
  work = await tempDir();
  root = join(work, 'root');
  ips = await bed.up(2);
  for (const i of [1, 2]) await bed.sh(i, "printf 'FAKE_CLUSTER=/run/testbed-shared/k3s\\nFAKE_LOG=/run/fakes.log\\n' > /etc/sealbuild-fakes.env");
  await buildClusterImage(root, 'k3s', 'v1.34.2+k3s1', 'test/k3s:v1');
});

after(async () => {
  await bed.down();
  await removeDir(work);
});

function runArgs(auth: string[] = ['--pk', bed.privateKey]): string[] {
  return ['run', 'test/k3s:v1', '--masters', ips[0]!, '--nodes', ips[1]!, '--known-hosts', bed.knownHosts, ...auth];
}

/** Runs, and checks it failed within 60 s with one line naming `host` (a pattern) and `phase`. */
async function fails(args: string[], host: string, phase: string, why: RegExp): Promise<RunResult> {
  const started = Date.now();
  const result = await sealbuild(root, args);
  const seconds = (Date.now() - started) / 1000;
  assert.equal(result.code, 1, result.stderr);
  assert.ok(seconds < 60, `failed after ${seconds} s`);
  // Progress lines (HOST: PHASE: ...) come first; the error is one line, the last.
  const error = oneError(result.stderr);
  assert.match(error, new RegExp(`^Error: ${host}: ${phase}: `));
  assert.match(error, why);
  return result;
}

/** The one `Error:` line of stderr, which must be its last line. */
function oneError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('Error')).length, 1, stderr);
  assert.match(lines.at(-1)!, /^Error: /, stderr);
  return lines.at(-1)!;
}

async function status(): Promise<string> {
  const result = await sealbuild(root, ['status']);
  return result.code === 0 ? result.stdout : '';
}

test('a wrong password: the login fails, nothing is recorded; the right one works', async () => {
  // Both hosts refuse the login; whichever answers first is named.
  await fails(runArgs(['-p', 'wrong', '--pk', '/nonexistent']), `${netPattern}\\.[12]`, 'connect', /login as root failed/);
  assert.equal(await status(), '', 'no cluster is recorded');
});

test('an unreachable host: named, nothing recorded', async () => {
  const link = `${bed.name}-v2`;
  await run(['ip', 'link', 'set', link, 'down']);
  try {
    await fails(runArgs(['-p', bed.password]), `${netPattern}\\.2`, 'connect', /unreachable/);
  } finally {
    await run(['ip', 'link', 'set', link, 'up']);
  }
  assert.equal(await status(), '');
});

test('a script that exits non-zero: the host and phase named, the first master recorded installed and the worker only delivered; the rerun completes', async () => {
  // install(1) cannot put the k3s binary where a directory stands.
  await bed.sh(2, 'mkdir -p /usr/local/bin/k3s/blocked');
  await fails(runArgs(), `${netPattern}\\.2`, 'join', /exited 1/);
  const recorded = await status();
  assert.match(recorded, new RegExp(`${ips[0]!.replaceAll('.', '\\.')}\\s+master\\s+\\S+\\s+\\S+\\s+installed`));
  assert.match(recorded, new RegExp(`${ips[1]!.replaceAll('.', '\\.')}\\s+node\\s+\\S+\\s+\\S+\\s+delivered`));
  await bed.sh(2, 'rm -rf /usr/local/bin/k3s');
  const rerun = await sealbuildOk(root, runArgs());
  assert.match(rerun.stdout, new RegExp(`${ips[1]!.replaceAll('.', '\\.')}\\s+node\\s+\\S+\\s+\\S+\\s+installed`));
  await sealbuildOk(root, ['reset', '--pk', bed.privateKey, '--known-hosts', bed.knownHosts]);
  // The fakes' shared directory stands for the cluster's datastore, which lives on the servers
  // that reset wiped: the next cluster starts without it.
  await bed.sh(1, 'rm -rf /run/testbed-shared/k3s');
});

test('a host that dies mid-delivery: named within 60 s, not recorded as delivered; the rerun completes', async () => {
  const link = `${bed.name}-v2`;
  const running = sealbuild(root, runArgs());
  // Cut host 2 off as soon as its rootfs starts arriving.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const staging = await bed.exec(2, ['sh', '-c', 'ls -d /var/lib/sealbuild/rootfs/.*.partial']);
    if (staging.code === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await run(['ip', 'link', 'set', link, 'down']);
  const started = Date.now();
  let result: RunResult;
  try {
    result = await running;
  } finally {
    await run(['ip', 'link', 'set', link, 'up']);
  }
  assert.ok((Date.now() - started) / 1000 < 60, 'noticed within 60 s');
  assert.equal(result.code, 1, result.stderr);
  assert.match(oneError(result.stderr), new RegExp(`^Error: ${ips[1]!.replaceAll('.', '\\.')}: deliver: `));
  assert.doesNotMatch(await status(), new RegExp(`${ips[1]!.replaceAll('.', '\\.')}\\s+node\\s+\\S+\\s+\\S+\\s+(delivered|installed)`));
  const rerun = await sealbuildOk(root, runArgs());
  assert.match(rerun.stdout, new RegExp(`${ips[1]!.replaceAll('.', '\\.')}\\s+node\\s+\\S+\\s+\\S+\\s+installed`));
});

/** Runs a command on this machine; throws with its output on failure. */
async function run(command: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command.join(' ')}: ${err}`))));
  });
}

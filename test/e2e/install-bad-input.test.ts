import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, sealbuild, sealbuildOk, tempDir } from '../helpers/cli.js';
import { TestBed } from '../helpers/testbed.js';

/*
 * What `sealbuild run` refuses before it changes anything: exit 2 with one line. The one case
 * that needs a host to know (its platform) runs against a test-bed host.
 */

const bed = new TestBed('sbib', '198.18.4');
let work: string;
let root: string;
let ip: string;

before(async () => {
  await bed.down();
  work = await tempDir();
  root = join(work, 'root');
  ip = (await bed.up(1))[0]!;
  // A plain image (no runtime, no Metadata) and a ClusterImage for arm64 only.
  const plain = join(work, 'plain');
  await mkdir(plain, { recursive: true });
  await writeFile(join(plain, 'hello.txt'), 'hello\n');
  await writeFile(join(plain, 'Kubefile'), 'FROM scratch\nCOPY hello.txt /\n');
  await sealbuildOk(root, ['build', '-t', 'test/plain:1', '--platform', 'linux/amd64', plain]);
  const arm = join(work, 'arm');
  await mkdir(join(arm, 'scripts'), { recursive: true });
  await writeFile(join(arm, 'scripts', 'init.sh'), '#!/bin/sh\nexit 0\n');
  await writeFile(join(arm, 'Kubefile'), 'FROM scratch\nLABEL cluster.alpha.sealer.io/cluster-runtime-type=k3s cluster.alpha.sealer.io/cluster-runtime-version=v1.34.2+k3s1\nCOPY scripts scripts\n');
  await sealbuildOk(root, ['build', '-t', 'test/k3s-arm:1', '--platform', 'linux/arm64', arm]);
});

after(async () => {
  await bed.down();
  await removeDir(work);
});

/** Exit 2 with one error line, the last; before it at most progress lines (`HOST: connect: ...`). */
async function usage(args: string[], pattern: RegExp): Promise<void> {
  const result = await sealbuild(root, args);
  assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.match(lines.at(-1)!, /^Error: /, `the error is the last line: ${result.stderr}`);
  assert.match(lines.at(-1)!, pattern);
  for (const line of lines.slice(0, -1)) assert.match(line, /^\S+: connect: /, `only progress before the error: ${result.stderr}`);
}

test('bad addresses, ports, roles, missing masters and images are usage errors', async () => {
  await usage(['run', 'test/plain:1', '--masters', '10.0.0.300'], /--masters: "10\.0\.0\.300" is not an IP address/);
  await usage(['run', 'test/plain:1', '--nodes', '198.18.4.1'], /no master/);
  await usage(['run', 'test/plain:1', '--masters', '198.18.4.1', '--port', 'ssh'], /--port "ssh" is not a port number/);
  await usage(['run', '--masters', '198.18.4.1'], /run needs an image/);
  const clusterfile = join(work, 'Clusterfile');
  await writeFile(clusterfile, 'apiVersion: sealer.io/v2\nkind: Cluster\nspec:\n  image: test/plain:1\n  hosts:\n    - ips: [198.18.4.1]\n      roles: [boss]\n');
  await usage(['run', '-f', clusterfile], /Clusterfile: spec\.hosts\.0\.roles: unknown role "boss"/);
  await usage(['add', '--nodes', '198.18.4.1'], /there is no cluster "default"/);
  await usage(['run', 'test/plain:1', '--masters', '198.18.4.1', '--cluster', 'Bad Name'], /--cluster "Bad Name" is not a valid cluster name/);
});

test('an image with no Metadata is refused before any host is contacted', async () => {
  await usage(['run', 'test/plain:1', '--masters', ip], /image "test\/plain:1" \(linux\/amd64\) has no Metadata: it is not a ClusterImage/);
});

test('a platform no host matches is refused after reading the hosts, with nothing recorded', async () => {
  await usage(['run', 'test/k3s-arm:1', '--masters', ip, '--pk', bed.privateKey, '--known-hosts', bed.knownHosts], new RegExp(`${ip.replaceAll('.', '\\.')} is linux/amd64, but image "test/k3s-arm:1" has only linux/arm64`));
  const status = await sealbuild(root, ['status']);
  assert.equal(status.code, 2, 'no cluster was recorded');
});

test('--passwd-stdin: the password piped in logs in, a wrong one does not; with -p too, or empty, it is a usage error', async () => {
  const args = ['run', 'test/k3s-arm:1', '--masters', ip, '--pk', '/nonexistent', '--known-hosts', bed.knownHosts, '--passwd-stdin'];
  // Logged in with the password alone, the run gets as far as the platform check.
  const piped = await sealbuild(root, args, { input: `${bed.password}\n` });
  assert.equal(piped.code, 2, piped.stderr);
  assert.match(piped.stderr, /is linux\/amd64, but image "test\/k3s-arm:1" has only linux\/arm64/);
  const wrong = await sealbuild(root, args, { input: 'wrong\n' });
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, /login as root failed/);
  await usage([...args, '-p', 'x'], /give the SSH password with one of --passwd-stdin or -p, not both/);
  await usage(args, /--passwd-stdin: standard input is empty/);
  const onCommandLine = await sealbuild(root, ['run', 'test/k3s-arm:1', '--masters', ip, '--pk', '/nonexistent', '--known-hosts', bed.knownHosts, '-p', bed.password]);
  assert.match(onCommandLine.stderr, /an SSH password on the command line is visible to other users; use --passwd-stdin/);
});

test('host keys: an unknown one is refused naming the file; --insecure-host-keys accepts it; a changed one is refused', async () => {
  const empty = join(work, 'known_hosts.empty');
  await writeFile(empty, '');
  const unknown = await sealbuild(root, ['run', 'test/k3s-arm:1', '--masters', ip, '--pk', bed.privateKey, '--known-hosts', empty]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, new RegExp(`^Error: ${ip.replaceAll('.', '\\.')}: connect: its host key is not in ${empty}`));
  // Accepted, the run gets as far as the platform check.
  await usage(['run', 'test/k3s-arm:1', '--masters', ip, '--pk', bed.privateKey, '--insecure-host-keys'], /is linux\/amd64, but image/);
  const other = join(work, 'known_hosts.other');
  await writeFile(other, `${ip} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKcXqEvN3ddqHIVgnX8Y4Yz0AiHkBcdN6fR4m8Wb5kqK\n`);
  const changed = await sealbuild(root, ['run', 'test/k3s-arm:1', '--masters', ip, '--pk', bed.privateKey, '--known-hosts', other]);
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /its host key does not match .*possible man-in-the-middle/);
});

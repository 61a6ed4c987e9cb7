import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, REPO, removeDir, run, sealbuild, sealbuildOk } from '../helpers/cli.js';
import { buildClusterImage, useFakeCluster } from '../helpers/cluster-images.js';
import { TestBed, difference } from '../helpers/testbed.js';

/*
 * How sealbuild reaches hosts, each through a real one-server k3s install (fake k3s; real sshd,
 * sudo, containerd, runc, registry): a non-root SSH user with sudo and an encrypted private key
 * (-u, --pk, --pk-passwd) on host 1; `local` (no SSH: sealbuild runs on the host itself) on
 * host 2. Mixed-arch clusters cannot be tried here (every host is this machine's amd64): only
 * their refusal path is tested (install-bad-input).
 */

const bed = new TestBed('sbia', '198.18.10');
const USER = 'sbuser';
const PASSPHRASE = 'a passphrase with spaces';
let work: string;
let root: string;
let ips: string[];
let encryptedKey: string;
const before0 = new Map<number, string>();

before(async () => {
  await bed.down();
  // Inside a test-bed host /tmp is the host's own: the store must be where the hosts see it too.
  work = await mkdtemp(join(REPO, 'dist', 'test-access-'));
  root = join(work, 'root');
  ips = await bed.up(2);
  for (const i of [1, 2]) await useFakeCluster(bed, i, 'k3s-$(hostname)');
  // A user with passwordless sudo, its home under /var (the host's own overlay), the bed's key.
  await bed.sh(1, [
    `useradd -m -d /var/lib/${USER} -s /bin/sh ${USER}`,
    `install -d -m 0700 -o ${USER} -g ${USER} /var/lib/${USER}/.ssh`,
    `install -m 0600 -o ${USER} -g ${USER} /etc/ssh/testbed_authorized_keys /var/lib/${USER}/.ssh/authorized_keys`,
    `echo '${USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/${USER} && chmod 0440 /etc/sudoers.d/${USER}`,
  ].join(' && '));
  encryptedKey = join(work, 'id_encrypted');
  run('cp', [bed.privateKey, encryptedKey]);
  run('ssh-keygen', ['-q', '-p', '-P', '', '-N', PASSPHRASE, '-f', encryptedKey]);
  for (const i of [1, 2]) before0.set(i, await bed.listing(i));
  await buildClusterImage(root, 'k3s', 'v1.34.2+k3s1', 'test/k3s:v1');
});

after(async () => {
  await bed.down();
  await removeDir(work);
});

test('an encrypted key without --pk-passwd, or with a wrong one: one line naming the key, nothing recorded', async () => {
  for (const extra of [[], ['--pk-passwd', 'wrong']]) {
    const result = await sealbuild(root, ['run', 'test/k3s:v1', '--masters', ips[0]!, '-u', USER, '--pk', encryptedKey, ...extra, '--known-hosts', bed.knownHosts]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr.trim(), new RegExp(`^Error: ${ips[0]!.replaceAll('.', '\\.')}: connect: cannot use the private key ${encryptedKey}: .*\\(hint: ${extra.length ? 'check --pk-passwd' : 'an encrypted key needs --pk-passwd'}\\)$`));
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.equal((await sealbuild(root, ['status'])).code, 2, 'no cluster recorded');
  }
});

test('a non-root user with sudo and an encrypted key (-u, --pk, --pk-passwd): installed as root, Ready; reset as that user', async () => {
  const access = ['-u', USER, '--pk', encryptedKey, '--pk-passwd', PASSPHRASE, '--known-hosts', bed.knownHosts];
  await sealbuildOk(root, ['run', 'test/k3s:v1', '--masters', ips[0]!, ...access]);
  assert.match(await bed.sh(1, 'k3s kubectl get nodes'), new RegExp(`${bed.name}-1\\s+Ready`));
  // What the scripts installed belongs to root, through sudo.
  assert.equal((await bed.sh(1, 'stat -c %U /usr/local/bin/k3s /var/lib/sealbuild/rootfs')).trim(), 'root\nroot');
  assert.match(await bed.sh(1, 'k3s ctr -n sealbuild tasks ls'), /sealbuild-registry\s+\d+\s+RUNNING/);
  const state = await readFile(join(root, 'clusters/default/cluster.json'), 'utf8');
  assert.doesNotMatch(state, new RegExp(PASSPHRASE), 'the passphrase is not recorded');
  assert.match(state, new RegExp(`"user":\\s*"${USER}"`));
  await sealbuildOk(root, ['reset', ...access]);
  assert.deepEqual(difference(before0.get(1)!, await bed.listing(1)), []);
});

test('`--masters local`: sealbuild on the host itself, no SSH; Ready; reset leaves the host as it was', async () => {
  const inHost = (args: string[]) => bed.exec(2, ['node', CLI, '--root', root, '--progress', 'plain', ...args]);
  const installed = await inHost(['run', 'test/k3s:v1', '--masters', 'local', '--cluster', 'here']);
  assert.equal(installed.code, 0, installed.stderr);
  assert.match(installed.stdout, /^local\s+master\s+linux\/amd64\s+\S+\s+installed$/m);
  assert.match(installed.stderr, /^local: ready: 1 node\(s\) Ready in /m);
  assert.match(await bed.sh(2, 'k3s kubectl get nodes'), new RegExp(`${bed.name}-2\\s+Ready`));
  assert.match(await bed.sh(2, 'grep sea.hub /etc/hosts'), /^127\.0\.0\.1 sea\.hub/);
  // Its commands are logged as the `local` host's: no SSH connection was made.
  assert.match(await readFile(join(root, 'clusters/here/logs/local.log'), 'utf8'), /init\.sh/);
  const reset = await inHost(['reset', '--cluster', 'here']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.deepEqual(difference(before0.get(2)!, await bed.listing(2)), []);
});

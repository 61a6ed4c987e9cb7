import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, sealbuildOk, tempDir } from '../helpers/cli.js';
import { buildClusterImage } from '../helpers/cluster-images.js';
import { TestBed } from '../helpers/testbed.js';

/*
 * k0s, 1 controller + 1 worker, installed by `sealbuild run` on two test-bed hosts with the
 * fake k0s; the scripts, sshd, containerd, runc and the registry are real.
 */

const bed = new TestBed('sbi2', '198.18.6');
let work: string;
let root: string;
let ips: string[];

function access(): string[] {
  return ['--pk', bed.privateKey, '--known-hosts', bed.knownHosts];
}

/** Polls a command on host i until its output matches (nodes turn Ready a moment after their service starts). */
async function when(i: number, command: string, pattern: RegExp, seconds = 60): Promise<string> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const out = await bed.sh(i, command);
    if (pattern.test(out) || Date.now() > deadline) return out;
    await new Promise((r) => setTimeout(r, 500));
  }
}

before(async () => {
  await bed.down();
  work = await tempDir();
  root = join(work, 'root');
  ips = await bed.up(2);
  for (const i of [1, 2]) await bed.sh(i, "printf 'FAKE_CLUSTER=/run/testbed-shared/k0s\\nFAKE_LOG=/run/fakes.log\\n' > /etc/sealbuild-fakes.env");
  await buildClusterImage(root, work, 'k0s', 'v1.34.3+k0s.0', 'test/k0s:v1');
});

after(async () => {
  await bed.down();
  await removeDir(work);
});

test('k0s: a controller (with a worker, for the registry) and a worker; k0s.yaml, the containerd mirror, the join token; the worker pulls through the registry', async () => {
  await sealbuildOk(root, ['run', 'test/k0s:v1', '--masters', ips[0]!, '--nodes', ips[1]!, ...access()]);
  const nodes = await when(1, 'k0s kubectl get nodes', /sbi2-2\s+Ready/);
  assert.match(nodes, /sbi2-1\s+Ready/);
  assert.match(nodes, /sbi2-2\s+Ready\s+\S+\s+v1\.34\.3\+k0s\.0/);
  for (const i of [1, 2]) {
    assert.match(await bed.sh(i, 'cat /etc/k0s/k0s.yaml'), /repository: "?sea\.hub:5000/);
    assert.match(await bed.sh(i, 'cat /etc/k0s/containerd.d/certs.d/_default/hosts.toml'), /sea\.hub:5000/);
  }
  assert.match(await bed.sh(2, 'cat /var/lib/sealbuild/k0s-tokens/worker-token'), /\S/);
  assert.match(await bed.sh(2, 'cat /run/fakes.log'), /pulled sea\.hub:5000\/k0sproject\/pause:3\.10\.1|pulled quay\.io\/k0sproject\/pause:3\.10\.1/);
});

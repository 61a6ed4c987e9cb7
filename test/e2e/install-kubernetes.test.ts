import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sealbuild, sealbuildOk } from '../helpers/cli.js';
import { installHosts, removeInstallHosts } from '../helpers/cluster-images.js';
import { TestBed, difference } from '../helpers/testbed.js';

/*
 * kubernetes (kubeadm), 1 master + 1 worker, installed by `sealbuild run` on two test-bed hosts
 * with the fake kubeadm/kubelet/kubectl; the scripts, sshd, containerd (this machine's, packed
 * as the release tarball), runc and the registry are real. Then reset: both hosts as they were.
 */

const bed = new TestBed('sbiu', '198.18.8');
let work: string;
let root: string;
let ips: string[];
/** Each host's listing from before anything was installed. */
let before0: Map<number, string>;

/**
 * The test bed's /var is an overlay, where containerd's overlayfs snapshotter cannot mount: the
 * image's own scripts get ctr's snapshotter through --env, as a user on such a host would.
 */
const ENV = ['--env', 'CONTAINERD_SNAPSHOTTER=native'];

before(async () => {
  ({ work, root, ips, before0 } = await installHosts(bed, 2, 'kubernetes', [{ version: 'v1.30.4', tag: 'test/kubernetes:v1' }]));
});

after(() => removeInstallHosts(bed, work));

test('kubernetes: kubeadm init on the master, join on the worker; both Ready; containerd mirror, kubeadm config, kubelet files; the worker pulls through the registry', async () => {
  const result = await sealbuildOk(root, ['run', 'test/kubernetes:v1', '--masters', ips[0]!, '--nodes', ips[1]!, ...ENV, ...bed.access()]);
  // Progress on stderr, phase by phase, in the shape of the one-line errors; the table on stdout.
  const ip1 = ips[0]!.replaceAll('.', '\\.');
  assert.match(result.stderr, new RegExp(`^${ip1}: connect: linux/amd64, node ${bed.name}-1$`, 'm'));
  assert.match(result.stderr, new RegExp(`^${ip1}: deliver: rootfs [0-9a-f]{12} sent in \\d+\\.\\ds$`, 'm'));
  assert.match(result.stderr, new RegExp(`^${ip1}: init: init\\.sh init: done in \\d+\\.\\ds$`, 'm'));
  assert.match(result.stderr, new RegExp(`^${ips[1]!.replaceAll('.', '\\.')}: join: init\\.sh join: started$`, 'm'));
  assert.match(result.stderr, new RegExp(`^${ip1}: ready: 2 node\\(s\\) Ready in \\d+\\.\\ds$`, 'm'));
  assert.doesNotMatch(result.stderr, /--token|abcdef\./, 'no join secret in the progress');
  assert.match(result.stdout, /^HOST\s+ROLE\s+PLATFORM\s+NODE\s+PHASE$/m);
  // run waited for both nodes to be Ready: no polling here.
  const nodes = await bed.sh(1, 'kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes');
  assert.match(nodes, new RegExp(`${bed.name}-1\\s+Ready\\s+control-plane\\s+v1\\.30\\.4`));
  assert.match(nodes, new RegExp(`${bed.name}-2\\s+Ready\\s+<none>\\s+v1\\.30\\.4`));
  assert.match(await bed.sh(1, 'cat /etc/kubernetes/kubeadm.yaml'), /kubernetesVersion: v1\.30\.4/);
  for (const i of [1, 2]) {
    assert.match(await bed.sh(i, 'cat /etc/containerd/certs.d/_default/hosts.toml'), /sea\.hub:5000/);
    assert.match(await bed.sh(i, 'cat /etc/hosts'), new RegExp(`^${ips[0]!.replaceAll('.', '\\.')} sea\\.hub`, 'm'));
    assert.match(await bed.sh(i, 'cat /etc/kubernetes/kubelet.conf'), /kind: Config/);
  }
  // The join credentials the driver read from the master's kubeadm.
  assert.match(await bed.sh(1, 'cat /run/testbed-shared/kubernetes/calls.log'), new RegExp(`${bed.name}-2: kubeadm join ${ips[0]!.replaceAll('.', '\\.')}:6443 --token abcdef\\.`));
  assert.match(await bed.sh(1, 'ctr -n sealbuild tasks ls'), /sealbuild-registry\s+\d+\s+RUNNING/);
  assert.match(await bed.sh(2, 'cat /run/fakes.log'), /pulled registry\.k8s\.io\/pause:3\.9/);
  assert.match(await bed.sh(2, 'ctr -n k8s.io images ls -q'), /registry\.k8s\.io\/pause:3\.9/);
});

test('kubernetes reset: both hosts back to their listing from before run', async () => {
  await sealbuildOk(root, ['reset', ...bed.access()]);
  for (const i of [1, 2]) assert.deepEqual(difference(before0.get(i)!, await bed.listing(i)), [], `host ${i} is as it was`);
});

test('a node that never turns Ready: run fails after SEALBUILD_WAIT_SECONDS with one line naming it; fixed, the rerun completes', async () => {
  await bed.sh(1, 'rm -rf /run/testbed-shared/kubernetes');
  await bed.sh(2, 'echo FAKE_NOT_READY=1 >> /etc/sealbuild-fakes.env');
  const args = ['run', 'test/kubernetes:v1', '--masters', ips[0]!, '--nodes', ips[1]!, ...ENV, '--env', 'SEALBUILD_WAIT_SECONDS=20', ...bed.access()];
  const started = Date.now();
  const failed = await sealbuild(root, args);
  assert.equal(failed.code, 1);
  const lines = failed.stderr.trim().split('\n');
  assert.match(lines.at(-1)!, new RegExp(`^Error: ${ips[0]!.replaceAll('.', '\\.')}: ready: not Ready after 20s: ${bed.name}-2 \\(NotReady\\) \\(hint: \\\`kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes\\\` on `));
  assert.equal(lines.filter((l) => l.startsWith('Error')).length, 1);
  assert.ok(Date.now() - started < 240_000, 'bounded by the wait, not the 15 min script timeout');
  // Both hosts are installed (the join worked); the rerun only waits, and passes once the node reports.
  await bed.sh(2, "sed -i '/FAKE_NOT_READY/d' /etc/sealbuild-fakes.env && systemctl restart kubelet");
  const again = await sealbuildOk(root, args);
  assert.doesNotMatch(again.stderr, /init\.sh/, 'nothing is installed twice');
  assert.match(again.stderr, /ready: 2 node\(s\) Ready in/);
  await sealbuildOk(root, ['reset', ...bed.access()]);
});

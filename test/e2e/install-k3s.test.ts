import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sealbuild, sealbuildOk } from '../helpers/cli.js';
import { installHosts, removeInstallHosts } from '../helpers/cluster-images.js';
import { TestBed, difference, whenMatching } from '../helpers/testbed.js';

/*
 * sealbuild run|add|delete|upgrade|reset of a k3s ClusterImage on five test-bed hosts over
 * real SSH: 3 servers with embedded etcd + 2 agents. The cluster binary is the fake k3s
 * (test/fixtures/fakes); the scripts, sshd, containerd, runc and the registry container are real.
 */

const bed = new TestBed('sbik', '198.18.3');
/** Hosts in the cluster after add, delete and adding the deleted host again. */
const LATER = [1, 2, 3, 4, 5, 6];
let work: string;
let root: string;
let ips: string[];
/** Each host's listing from before anything was installed. */
let before0: Map<number, string>;

before(async () => {
  ({ work, root, ips, before0 } = await installHosts(bed, 6, 'k3s', [{ version: 'v1.34.2+k3s1', tag: 'test/k3s:v1' }, { version: 'v1.35.0+k3s1', tag: 'test/k3s:v2' }]));
});

after(() => removeInstallHosts(bed, work));

async function nodes(): Promise<string> {
  return bed.sh(1, 'k3s kubectl get nodes');
}

/** `kubectl get nodes` once it matches every pattern, or after 60 s. */
const nodesWhen = (patterns: RegExp[]) => whenMatching(nodes, patterns);

/** A node's name: the host's name on the test bed. */
const node = (i: number) => `${bed.name}-${i}`;

test('run: 3 servers (embedded etcd) + 2 agents come up; config, token, registries.yaml, airgap images where k3s reads them', async () => {
  const result = await sealbuildOk(root, ['run', 'test/k3s:v1', '--masters', ips.slice(0, 3).join(','), '--nodes', ips.slice(3, 5).join(','), ...bed.access()]);
  assert.match(result.stdout, new RegExp(`${ips[0]!.replaceAll('.', '\\.')}\\s+master\\s+linux/amd64\\s+${node(1)}\\s+installed`));
  // run waits for every node to be Ready.
  const wanted = [1, 2, 3, 4, 5].map((i) => new RegExp(`${node(i)}\\s+Ready\\s+${i <= 3 ? 'control-plane' : '<none>'}\\s+v1\\.34\\.2\\+k3s1`));
  const listed = await nodes();
  for (const pattern of wanted) assert.match(listed, pattern);

  const token = (await bed.sh(1, "sed -n 's/^token: \"\\(.*\\)\"$/\\1/p' /etc/rancher/k3s/config.yaml")).trim();
  assert.match(token, /^[0-9a-f]{48}$/);
  assert.match(await bed.sh(1, 'cat /etc/rancher/k3s/config.yaml'), /cluster-init: true/);
  for (const i of [2, 3]) assert.match(await bed.sh(i, 'cat /etc/rancher/k3s/config.yaml'), new RegExp(`server: "https://${ips[0]}:6443"[\\s\\S]*token: "${token}"`));
  for (const i of [4, 5]) {
    const config = await bed.sh(i, 'cat /etc/rancher/k3s/config.yaml');
    assert.match(config, new RegExp(`server: "https://${ips[0]}:6443"`));
    assert.doesNotMatch(config, /cluster-init/);
    assert.equal((await bed.exec(i, ['test', '-f', '/etc/systemd/system/k3s-agent.service'])).code, 0);
  }
  for (let i = 1; i <= 5; i++) {
    assert.match(await bed.sh(i, 'cat /etc/rancher/k3s/registries.yaml'), /sea\.hub:5000/);
    assert.equal((await bed.exec(i, ['test', '-f', '/var/lib/rancher/k3s/agent/images/k3s-airgap-images.tar.zst'])).code, 0);
    assert.match(await bed.sh(i, 'cat /etc/hosts'), new RegExp(`^${ips[0]!.replaceAll('.', '\\.')} sea\\.hub`, 'm'));
  }
  // The registry container runs on the first master only, from images/registry.tar.gz.
  assert.match(await bed.sh(1, 'k3s ctr -n sealbuild tasks ls'), /sealbuild-registry\s+\d+\s+RUNNING/);
  // A worker's real containerd pulled the pause image through the mirror, from that registry.
  assert.match(await bed.sh(5, 'cat /run/fakes.log'), /pulled docker\.io\/rancher\/mirrored-pause:3\.6/);
  assert.match(await bed.sh(5, 'k3s ctr -n k8s.io images ls -q'), /docker\.io\/rancher\/mirrored-pause:3\.6/);

  const status = await sealbuildOk(root, ['status']);
  assert.match(status.stdout, /^cluster default: k3s from test\/k3s:v1 \(sha256:[0-9a-f]{64}\)$/m);
  // The recorded state keeps no password and is readable by its owner only.
  const state = await readFile(join(root, 'clusters/default/cluster.json'), 'utf8');
  assert.doesNotMatch(state, /passwd/);
});

test('run again: every host is already installed and delivered, nothing is sent twice', async () => {
  const again = await sealbuildOk(root, ['run', 'test/k3s:v1', '--masters', ips.slice(0, 3).join(','), '--nodes', ips.slice(3, 5).join(','), ...bed.access()]);
  assert.match(again.stdout, /installed/);
  const log = await readFile(join(root, 'clusters/default/logs', `${ips[3]}.log`), 'utf8');
  assert.equal(log.match(/tar -x/g)?.length, 1, 'the rootfs was streamed once');
});

test('add a worker: it joins; delete a worker: drained, removed from the cluster, its host back to its listing', async () => {
  await sealbuildOk(root, ['add', '--nodes', ips[5]!, ...bed.access()]);
  assert.match(await nodes(), new RegExp(`${node(6)}\\s+Ready\\s+<none>\\s+v1\\.34\\.2\\+k3s1`));
  assert.match(await bed.sh(6, 'cat /etc/rancher/k3s/config.yaml'), new RegExp(`server: "https://${ips[0]}:6443"`));

  await sealbuildOk(root, ['delete', '--nodes', ips[4]!, ...bed.access()]);
  assert.doesNotMatch(await nodes(), new RegExp(`${node(5)}\\s`));
  assert.deepEqual(difference(before0.get(5)!, await bed.listing(5)), []);
  assert.doesNotMatch((await sealbuildOk(root, ['status'])).stdout, new RegExp(ips[4]!.replaceAll('.', '\\.')));
});

test('add the deleted host again: it joins as new (nothing of its old containers is in the way)', async () => {
  await sealbuildOk(root, ['add', '--nodes', ips[4]!, ...bed.access()]);
  assert.match(await nodes(), new RegExp(`${node(5)}\\s+Ready\\s+<none>\\s+v1\\.34\\.2\\+k3s1`));
  assert.match(await bed.sh(5, 'k3s ctr -n k8s.io tasks ls'), /fake-sandbox\s+\d+\s+RUNNING/);
});

test('upgrade: servers one at a time, then agents, to the new version', async () => {
  const calls = '/run/testbed-shared/k3s/calls.log';
  const seen = Number((await bed.sh(1, `wc -l < ${calls}`)).trim());
  await sealbuildOk(root, ['upgrade', 'test/k3s:v2', ...bed.access()]);
  const wanted = LATER.map((i) => new RegExp(`${node(i)}\\s+Ready\\s+\\S+\\s+v1\\.35\\.0\\+k3s1`));
  // upgrade waits for Ready; a node stays Ready while its restarted service reports the new version.
  const listed = await nodesWhen(wanted);
  for (const pattern of wanted) assert.match(listed, pattern);
  // The restarts as the fake k3s recorded them, in time order: the servers 1, 2, 3, then the agents.
  const restarts = (await bed.sh(1, `tail -n +${seen + 1} ${calls}`)).split('\n').filter((l) => / k3s (server|agent)$/.test(l)).map((l) => l.split(':')[0]);
  assert.deepEqual(restarts.slice(0, 3), [node(1), node(2), node(3)]);
  assert.deepEqual(restarts.slice(3).sort(), [node(4), node(5), node(6)]);
  assert.match((await sealbuildOk(root, ['status'])).stdout, /from test\/k3s:v2/);
});

test('reset: every host back to its listing from before run; the cluster is forgotten', async () => {
  await sealbuildOk(root, ['reset', ...bed.access()]);
  for (let i = 1; i <= 6; i++) assert.deepEqual(difference(before0.get(i)!, await bed.listing(i)), [], `host ${i} is as it was`);
  const status = await sealbuild(root, ['status']);
  assert.equal(status.code, 2);
  assert.match(status.stderr, /there is no cluster "default"/);
});

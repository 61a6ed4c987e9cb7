import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sealbuildOk } from '../helpers/cli.js';
import { installHosts, removeInstallHosts } from '../helpers/cluster-images.js';
import { TestBed, difference } from '../helpers/testbed.js';

/*
 * `sealbuild run --registry-ha`: the image's registry on every master (k3s, 2 servers + 1
 * agent, fake k3s; real sshd, containerd, runc, registry). Every host resolves the registry
 * domain to all masters, so pulls go on when the first master's registry is down.
 */

const bed = new TestBed('sbir', '198.18.9');
let work: string;
let root: string;
let ips: string[];
/** Each host's listing from before anything was installed. */
let before0: Map<number, string>;

/** The registry domain's lines in host i's /etc/hosts, as addresses in order. */
async function registryLines(i: number): Promise<string[]> {
  return (await bed.sh(i, "grep ' sea.hub ' /etc/hosts | cut -d' ' -f1")).trim().split('\n');
}

/** Stops the registry container on host i for good (no restart by containerd's monitor). */
async function stopRegistry(i: number): Promise<void> {
  await bed.sh(i, 'k3s ctr -n sealbuild containers label sealbuild-registry containerd.io/restart.status=stopped && k3s ctr -n sealbuild tasks kill -s SIGKILL sealbuild-registry');
  await bed.sh(i, 'for n in $(seq 50); do k3s ctr -n sealbuild tasks ls | grep -q RUNNING || exit 0; sleep 0.2; done; exit 1');
}

/** Pulls the pause image on the agent through the mirror: resolving its tag needs a registry. */
function pullOnAgent(): ReturnType<TestBed['exec']> {
  return bed.exec(3, ['sh', '-c', 'k3s ctr -n k8s.io images pull --hosts-dir /var/lib/rancher/k3s/agent/etc/containerd/certs.d docker.io/rancher/mirrored-pause:3.6']);
}

before(async () => {
  ({ work, root, ips, before0 } = await installHosts(bed, 3, 'k3s', [{ version: 'v1.34.2+k3s1', tag: 'test/k3s:v1' }]));
});

after(() => removeInstallHosts(bed, work));

test('--registry-ha: a registry on each server; every host resolves the domain to both, itself first on a server', async () => {
  await sealbuildOk(root, ['run', 'test/k3s:v1', '--registry-ha', '--masters', `${ips[0]},${ips[1]}`, '--nodes', ips[2]!, ...bed.access()]);
  for (const i of [1, 2]) assert.match(await bed.sh(i, 'k3s ctr -n sealbuild tasks ls'), /sealbuild-registry\s+\d+\s+RUNNING/, `registry on host ${i}`);
  assert.deepEqual(await registryLines(1), [ips[0], ips[1]]);
  assert.deepEqual(await registryLines(2), [ips[1], ips[0]]);
  assert.deepEqual(await registryLines(3), [ips[0], ips[1]]);
  assert.equal(JSON.parse((await sealbuildOk(root, ['status', '--json'])).stdout).registryHA, true);
});

test('--registry-ha: with the first master\'s registry down the agent still pulls (from the second); with both down it cannot', async () => {
  await stopRegistry(1);
  const pulled = await pullOnAgent();
  assert.equal(pulled.code, 0, pulled.stderr);
  await stopRegistry(2);
  const refused = await pullOnAgent();
  assert.notEqual(refused.code, 0, 'the pull needs a registry: it proves nothing if it works without one');
});

test('--registry-ha reset: every host as it was', async () => {
  await sealbuildOk(root, ['reset', ...bed.access()]);
  for (const i of [1, 2, 3]) assert.deepEqual(difference(before0.get(i)!, await bed.listing(i)), [], `host ${i} is as it was`);
});

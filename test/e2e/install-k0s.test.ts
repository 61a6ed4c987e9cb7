import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sealbuild, sealbuildOk } from '../helpers/cli.js';
import { installHosts, removeInstallHosts } from '../helpers/cluster-images.js';
import { TestBed, difference, whenMatching } from '../helpers/testbed.js';

/*
 * k0s, 1 controller + 1 worker, installed by `sealbuild run` on test-bed hosts with the fake
 * k0s; the scripts, sshd, containerd, runc and the registry are real. Then the lifecycle:
 * add a worker, delete one, upgrade, reset (every host as it was).
 */

const bed = new TestBed('sbi2', '198.18.6');
let work: string;
let root: string;
let ips: string[];
/** Each host's listing from before anything was installed. */
let before0: Map<number, string>;

const nodes = () => bed.sh(1, 'k0s kubectl get nodes');

/** `kubectl get nodes` once it matches every pattern, or after 60 s. */
const nodesWhen = (patterns: RegExp[]) => whenMatching(nodes, patterns);

before(async () => {
  ({ work, root, ips, before0 } = await installHosts(bed, 3, 'k0s', [{ version: 'v1.34.3+k0s.0', tag: 'test/k0s:v1' }, { version: 'v1.34.4+k0s.0', tag: 'test/k0s:v2' }]));
});

after(() => removeInstallHosts(bed, work));

test('k0s: a controller (with a worker, for the registry) and a worker; k0s.yaml, the containerd mirror, the join token; the worker pulls through the registry', async () => {
  await sealbuildOk(root, ['run', 'test/k0s:v1', '--masters', ips[0]!, '--nodes', ips[1]!, ...bed.access()]);
  // run waited for both nodes to be Ready.
  const listed = await nodes();
  assert.match(listed, new RegExp(`${bed.name}-1\\s+Ready`));
  assert.match(listed, new RegExp(`${bed.name}-2\\s+Ready\\s+\\S+\\s+v1\\.34\\.3\\+k0s\\.0`));
  for (const i of [1, 2]) {
    assert.match(await bed.sh(i, 'cat /etc/k0s/k0s.yaml'), /repository: "?sea\.hub:5000/);
    assert.match(await bed.sh(i, 'cat /etc/k0s/containerd.d/certs.d/_default/hosts.toml'), /sea\.hub:5000/);
  }
  assert.match(await bed.sh(2, 'cat /var/lib/sealbuild/k0s-tokens/worker-token'), /\S/);
  assert.match(await bed.sh(2, 'cat /run/fakes.log'), /pulled sea\.hub:5000\/k0sproject\/pause:3\.10\.1|pulled quay\.io\/k0sproject\/pause:3\.10\.1/);
});

test('k0s add a worker: it joins Ready; delete a worker: gone from the cluster, its host back to its listing', async () => {
  await sealbuildOk(root, ['add', '--nodes', ips[2]!, ...bed.access()]);
  assert.match(await nodes(), new RegExp(`${bed.name}-3\\s+Ready\\s+\\S+\\s+v1\\.34\\.3\\+k0s\\.0`));
  await sealbuildOk(root, ['delete', '--nodes', ips[1]!, ...bed.access()]);
  assert.doesNotMatch(await nodes(), new RegExp(`${bed.name}-2\\s`));
  assert.deepEqual(difference(before0.get(2)!, await bed.listing(2)), []);
});

test('k0s delete, then add the same host again: it joins as new', async () => {
  await sealbuildOk(root, ['add', '--nodes', ips[1]!, ...bed.access()]);
  assert.match(await nodes(), new RegExp(`${bed.name}-2\\s+Ready\\s+\\S+\\s+v1\\.34\\.3\\+k0s\\.0`));
});

test('k0s upgrade: every node on the new version', async () => {
  await sealbuildOk(root, ['upgrade', 'test/k0s:v2', ...bed.access()]);
  // upgrade waits for Ready; a node stays Ready while its restarted service reports the new version.
  const listed = await nodesWhen([1, 2, 3].map((i) => new RegExp(`${bed.name}-${i}\\s+Ready\\s+\\S+\\s+v1\\.34\\.4\\+k0s\\.0`)));
  for (const i of [1, 2, 3]) assert.match(listed, new RegExp(`${bed.name}-${i}\\s+Ready\\s+\\S+\\s+v1\\.34\\.4\\+k0s\\.0`));
  assert.match((await sealbuildOk(root, ['status'])).stdout, /from test\/k0s:v2/);
});

test('k0s reset: every host back to its listing from before run; the cluster is forgotten', async () => {
  await sealbuildOk(root, ['reset', ...bed.access()]);
  for (const i of [1, 2, 3]) assert.deepEqual(difference(before0.get(i)!, await bed.listing(i)), [], `host ${i} is as it was`);
  assert.equal((await sealbuild(root, ['status'])).code, 2);
});

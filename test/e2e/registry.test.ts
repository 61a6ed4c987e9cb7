import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { issueServerCert, makeTestCA } from '../helpers/certs.js';
import { exampleContext, removeDir, run, sealbuild, sealbuildOk, snapshot, tempDir, tool } from '../helpers/cli.js';
import { startFaultProxy, type FaultPlan } from '../helpers/fault-proxy.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { startTokenServer } from '../helpers/token-server.js';

let EXAMPLE: string;
let work: string;
let root: string;
let env: NodeJS.ProcessEnv;
let plain: Registry;
let exampleDigest: string;
const stops: (() => Promise<void>)[] = [];

/** The CLI with a private docker config: no host credentials leak in or out. */
const cli = (args: string[], r = root) => sealbuild(r, args, { env });
const cliOk = (args: string[], r = root) => sealbuildOk(r, args, { env });

/** What an independent client (skopeo) sees: the manifest bytes' digest and the document. */
function remote(ref: string, ...flags: string[]): { digest: string; doc: { mediaType?: string; manifests?: { digest: string }[]; layers?: { digest: string }[] } } {
  const raw = run('skopeo', ['inspect', '--raw', '--tls-verify=false', ...flags, `docker://${ref}`]);
  return { digest: `sha256:${createHash('sha256').update(raw).digest('hex')}`, doc: JSON.parse(raw) };
}

/** Blob events of a `--progress json` run: digest -> state (uploaded, exists, mounted, done…). */
function blobStates(stderr: string): Map<string, string[]> {
  const states = new Map<string, string[]>();
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as { event?: string; digest?: string; state?: string };
    if (event.event === 'blob' && event.digest && event.state) states.set(event.digest, [...(states.get(event.digest) ?? []), event.state]);
  }
  return states;
}

/** One error line, the expected exit code, and the store exactly as before. */
async function expectFailure(args: string[], code: number, pattern: RegExp, r = root): Promise<void> {
  const before = await snapshot(r);
  const result = await sealbuild(r, ['--progress', 'quiet', ...args], { env });
  assert.equal(result.code, code, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /^Error: /);
  assert.match(lines[0]!, pattern);
  assert.deepEqual(await snapshot(r), before, 'store unchanged');
}

before(async () => {
  tool('skopeo', 'skopeo');
  work = await tempDir();
  EXAMPLE = await exampleContext(work);
  root = join(work, 'root');
  env = { DOCKER_CONFIG: join(work, 'docker'), REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '' };
  plain = await startRegistry();
  stops.push(plain.stop);
  exampleDigest = (await cliOk(['-t', 'example/hello:v1', '--build-mode', 'lite', '--platform', 'linux/amd64,linux/arm64', EXAMPLE])).stdout.trim();
});
after(async () => {
  for (const stop of stops.reverse()) await stop();
  await removeDir(work);
});

test('push: skopeo reads back the same index and manifest digests; a re-push uploads nothing', async () => {
  const dest = `${plain.host}/team/hello:v1`;
  const first = await cliOk(['--progress', 'json', 'push', 'example/hello:v1', dest]);
  assert.equal(first.stdout.trim(), exampleDigest);
  const index = remote(dest);
  assert.equal(index.digest, exampleDigest);
  assert.equal(index.doc.mediaType, 'application/vnd.oci.image.index.v1+json');
  const local = JSON.parse((await cliOk(['inspect', '--json', 'example/hello:v1'])).stdout);
  assert.deepEqual(index.doc.manifests!.map((m) => m.digest), local.images.map((i: { digest: string }) => i.digest));
  for (const image of local.images) assert.equal(remote(`${plain.host}/team/hello@${image.digest}`).digest, image.digest);
  assert.ok([...blobStates(first.stderr).values()].every((s) => s.includes('uploaded')));

  // Count what a re-push sends through a proxy that records methods.
  const methods: string[] = [];
  const proxy = await startFaultProxy(plain.url, [{ match: (req) => (methods.push(`${req.method} ${req.url}`), false), fault: 'status500', times: 1 }]);
  stops.push(proxy.stop);
  const again = await cliOk(['--progress', 'json', 'push', 'example/hello:v1', `${proxy.host}/team/hello:v1`]);
  assert.equal(again.stdout.trim(), exampleDigest);
  const contentRequests = methods.filter((m) => m !== 'GET /v2/');
  assert.ok(contentRequests.length > 0);
  // Reads only: HEADs, and the GET of the SBOM's referrers index to see it is listed.
  assert.deepEqual(contentRequests.filter((m) => !m.startsWith('HEAD ') && !m.startsWith('GET ')), [], 'nothing written');
  assert.ok([...blobStates(again.stderr).values()].every((s) => s.includes('exists')));
});

test('pull what skopeo pushed, build FROM it, push the result: base layers plus ours, base recorded', async () => {
  const layout = join(work, 'layout');
  await cliOk(['save', '--format', 'oci-dir', '-o', layout, 'example/hello:v1']);
  run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout}:docker.io/example/hello:v1`, `docker://${plain.host}/base/hello:1`]);
  const fresh = join(work, 'root-pull');
  const pulled = await cliOk(['pull', '--platform', 'linux/arm64', `${plain.host}/base/hello:1`], fresh);
  assert.equal(pulled.stdout.trim(), exampleDigest, 'the index keeps its digest');
  const images = JSON.parse((await cliOk(['images', '--json'], fresh)).stdout);
  // The index names both platforms; only arm64 is in the store.
  assert.deepEqual(images.map((i: { platforms: string[]; notPulled: string[] }) => [i.platforms, i.notPulled]), [[['linux/arm64', 'linux/amd64'], ['linux/amd64']]]);

  const ctx = join(work, 'child');
  await mkdir(ctx);
  await writeFile(join(ctx, 'Kubefile'), `FROM ${plain.host}/base/hello:1\nCOPY extra.yaml manifests/\n`);
  await writeFile(join(ctx, 'extra.yaml'), 'kind: ConfigMap\n');
  // amd64 is not in the store yet: the build pulls it.
  // lite: the example names docker.io images in its manifests, unreachable here.
  await cliOk(['-t', `${plain.host}/base/child:1`, '--build-mode', 'lite', '--platform', 'linux/amd64,linux/arm64', ctx], fresh);
  const pushed = await cliOk(['--progress', 'json', 'push', `${plain.host}/base/child:1`], fresh);
  const states = [...blobStates(pushed.stderr).values()].flat();
  assert.ok(states.includes('exists') || states.includes('mounted'), `base layers are not uploaded again: ${states}`);
  const child = JSON.parse((await cliOk(['inspect', '--json', '--platform', 'linux/amd64', `${plain.host}/base/child:1`], fresh)).stdout);
  const base = JSON.parse((await cliOk(['inspect', '--json', '--platform', 'linux/amd64', 'example/hello:v1'])).stdout);
  const remoteChild = remote(`${plain.host}/base/child@${child.digest}`);
  assert.deepEqual(remoteChild.doc.layers!.map((l) => l.digest), [...base.manifest.layers.map((l: { digest: string }) => l.digest), child.manifest.layers.at(-1).digest]);
  assert.equal(child.annotations['org.opencontainers.image.base.name'], `${plain.host}/base/hello:1`);
  assert.equal(child.annotations['org.opencontainers.image.base.digest'], base.digest);
  // A rebuild with the registry unreachable works from the store.
  await cliOk(['-t', 'offline/child:1', '--build-mode', 'lite', '--platform', 'linux/amd64', ctx], fresh);
});

test('large blobs go up in chunks; the pull of a broken-off download resumes; digests match', async () => {
  const ctx = join(work, 'big');
  await mkdir(ctx);
  await writeFile(join(ctx, 'blob.bin'), randomBytes(70 * 1024 * 1024));
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY blob.bin /\n');
  await cliOk(['-t', 'big/one:1', '--compression', 'none', ctx]);
  const plan: FaultPlan = [
    { match: (req) => req.method === 'PATCH', fault: { dropAfterBytes: 0 }, times: 1 },
    { match: (req) => req.method === 'PATCH', fault: 'status503', times: 1 },
    { match: (req) => req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? ''), fault: { dropAfterBytes: 5_000_000 }, times: 2 },
    { match: (req) => req.method === 'HEAD', fault: { status429RetryAfter: 1 }, times: 1 },
    { match: (req) => req.method === 'GET' && /\/manifests\//.test(req.url ?? ''), fault: 'status500', times: 1 },
  ];
  const proxy = await startFaultProxy(plain.url, plan);
  stops.push(proxy.stop);
  const digest = (await cliOk(['push', 'big/one:1', `${proxy.host}/big/one:1`])).stdout.trim();
  assert.equal(remote(`${plain.host}/big/one:1`).digest, digest);
  const fresh = join(work, 'root-big');
  assert.equal((await cliOk(['pull', `${proxy.host}/big/one:1`], fresh)).stdout.trim(), digest);
  assert.ok(proxy.stats.faults.dropAfterBytes! >= 2, JSON.stringify(proxy.stats));
  assert.equal(proxy.stats.faults.status429, 1);
  const out = join(work, 'big-export');
  await cliOk(['export', `${proxy.host}/big/one:1`, '-o', out], fresh);
  assert.deepEqual(await readFile(join(out, 'blob.bin')), await readFile(join(ctx, 'blob.bin')));
});

test('a corrupted blob is rejected and nothing is stored', async () => {
  const proxy = await startFaultProxy(plain.url, [{ match: (req) => req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? ''), fault: 'corruptBlob', times: 100 }]);
  stops.push(proxy.stop);
  const fresh = join(work, 'root-corrupt');
  await cliOk(['prune'], fresh); // creates the empty store (read-only commands create none)
  await expectFailure(['pull', '--platform', 'linux/amd64', `${proxy.host}/team/hello:v1`], 1, /does not match its descriptor/, fresh);
});

test('basic auth from config.json, login and logout; a wrong password is refused', async () => {
  const secured = await startRegistry({ htpasswd: { user: 'alice', password: 's3cret-pw' } });
  stops.push(secured.stop);
  await expectFailure(['push', 'example/hello:v1', `${secured.host}/team/hello:v1`], 1, /requires authentication.*login/);
  const empty = await cli(['login', secured.host, '-u', 'alice', '--password-stdin']);
  assert.equal(empty.code, 2, 'an empty password on stdin is a usage error');
  assert.match(empty.stderr, /the password is empty/);
  const wrong = await cli(['login', secured.host, '-u', 'alice', '-p', 'wrong']);
  assert.equal(wrong.code, 1);
  // Said in login's own words: "run sealbuild login" would be no hint here (#21).
  assert.match(wrong.stderr, /^Error: login to 127\.0\.0\.1:\d+: the registry rejected user "alice" with that password \(hint: check the user name and the password or token; nothing was saved\)$/m);
  assert.ok(!wrong.stderr.includes('wrong'), 'the password is never printed');
  const ok = await cli(['login', secured.host, '-u', 'alice', '-p', 's3cret-pw']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), 'Login Succeeded');
  assert.ok(!ok.stderr.includes('s3cret-pw') && !ok.stdout.includes('s3cret-pw'));
  const config = JSON.parse(await readFile(join(work, 'docker', 'config.json'), 'utf8'));
  assert.equal(Buffer.from(config.auths[secured.host].auth, 'base64').toString(), 'alice:s3cret-pw');
  assert.equal((await cliOk(['push', 'example/hello:v1', `${secured.host}/team/hello:v1`])).stdout.trim(), exampleDigest);
  assert.equal((await cliOk(['pull', '--all-platforms', `${secured.host}/team/hello:v1`], join(work, 'root-basic'))).stdout.trim(), exampleDigest);
  assert.equal((await cliOk(['logout', secured.host])).stdout.trim(), `Removed login credentials for ${secured.host}`);
  await expectFailure(['pull', `${secured.host}/team/hello:v1`], 1, /requires authentication/);
});

test('TLS: trusted with --cert-dir, refused with a clear error without it', async () => {
  const certs = join(work, 'certs');
  await mkdir(certs);
  const ca = await makeTestCA(certs);
  const serverDir = join(work, 'server-cert');
  await mkdir(serverDir);
  const secure = await startRegistry({ tls: await issueServerCert(ca, serverDir, ['localhost']) });
  stops.push(secure.stop);
  await expectFailure(['push', 'example/hello:v1', `${secure.host}/tls/hello:v1`], 1, /TLS verification failed for 127\.0\.0\.1.*--cert-dir/);
  assert.equal((await cliOk(['--cert-dir', certs, 'push', 'example/hello:v1', `${secure.host}/tls/hello:v1`])).stdout.trim(), exampleDigest);
  // NODE_EXTRA_CA_CERTS trusts a CA as it does for Node, though the bin keeps Node from reading it at start.
  assert.equal((await sealbuildOk(join(work, 'root-extra-ca'), ['pull', `${secure.host}/tls/hello:v1`], { env: { ...env, NODE_EXTRA_CA_CERTS: ca.caCert } })).stdout.trim(), exampleDigest);
  assert.equal(remote(`${secure.host}/tls/hello:v1`, '--cert-dir', certs, '--tls-verify=true').digest, exampleDigest);
  assert.equal((await cliOk(['--tls-verify=false', 'pull', `${secure.host}/tls/hello:v1`], join(work, 'root-tls'))).stdout.trim(), exampleDigest);
});

test('token auth: bearer tokens with the right scopes, and identity tokens', async () => {
  const tokens = await startTokenServer({ users: { bob: 'tok-pass' } });
  stops.push(tokens.stop);
  const reg = await startRegistry({ token: tokens });
  stops.push(reg.stop);
  await mkdir(join(work, 'docker'), { recursive: true });
  await writeFile(join(work, 'docker', 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('bob:tok-pass').toString('base64') } } }));
  assert.equal((await cliOk(['push', 'example/hello:v1', `${reg.host}/tok/hello:v1`])).stdout.trim(), exampleDigest);
  const scopes = tokens.requests.filter((r) => r.user === 'bob').flatMap((r) => r.scopes);
  assert.ok(scopes.includes('repository:tok/hello:pull,push'), scopes.join(' '));
  // An identity token (docker's `identitytoken`) is exchanged by an OAuth2 refresh grant.
  const grant = await fetch(tokens.realm, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'bob', password: 'tok-pass', service: tokens.service, client_id: 'test' }) });
  const { refresh_token: identityToken } = (await grant.json()) as { refresh_token: string };
  await writeFile(join(work, 'docker', 'config.json'), JSON.stringify({ auths: { [reg.host]: { identitytoken: identityToken } } }));
  assert.equal((await cliOk(['pull', '--platform', 'linux/arm64', `${reg.host}/tok/hello:v1`], join(work, 'root-token'))).stdout.trim(), exampleDigest);
  assert.ok(tokens.requests.some((r) => r.grantType === 'refresh_token' && r.status === 200));
  await writeFile(join(work, 'docker', 'config.json'), '{}');
});

test('bad input: one line each, non-zero exit, store unchanged', async () => {
  await cliOk(['push', 'example/hello:v1', `${plain.host}/bad/hello:v1`]);
  await expectFailure(['pull', 'Bad/Name:x'], 2, /invalid image reference "Bad\/Name:x"/);
  await expectFailure(['pull', 'no-such-host.invalid/a/b:1'], 1, /cannot resolve registry host no-such-host\.invalid/);
  await expectFailure(['pull', `${plain.host}/bad/hello:nope`], 1, /not found on 127\.0\.0\.1:\d+ \(MANIFEST_UNKNOWN/);
  await expectFailure(['pull', `${plain.host}/bad/hello:v1`, '--platform', 'linux/s390x'], 1, /has no linux\/s390x variant \(it has: linux\/amd64, linux\/arm64\)/);
  await expectFailure(['push', 'not/here:1', `${plain.host}/x/y:1`], 1, /not in the store/);
  await expectFailure(['push', 'example/hello:v1', `${plain.host}/x/y@sha256:${'a'.repeat(64)}`], 2, /cannot push to a digest reference/);
  await expectFailure(['--tls-verify=maybe', 'images'], 2, /--tls-verify: "maybe" is not true or false/);
});

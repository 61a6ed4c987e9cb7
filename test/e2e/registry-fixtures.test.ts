// The registry test fixtures, proven with an independent client (skopeo) and raw HTTP, so a
// failing registry-client test can be blamed on the client and not on its fixtures.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { issueServerCert, makeTestCA, type ServerCert, type TestCA } from '../helpers/certs.js';
import { removeDir, run, tempDir, tool } from '../helpers/cli.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { startRegistry } from '../helpers/registry.js';
import { startTokenServer } from '../helpers/token-server.js';

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * skopeo without the machine's signature policy (these images are ours). Asynchronous: the
 * token server and the fault proxy answer from this very process, so a blocking spawnSync
 * would deadlock. Rejects with skopeo's output on a non-zero exit.
 */
function skopeo(args: string[]): Promise<string> {
  const all = ['--insecure-policy', ...args];
  return new Promise((resolve, reject) => {
    execFile(tool('skopeo', 'skopeo'), all, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`skopeo ${all.join(' ')} failed: ${stderr}${stdout}`));
      else resolve(stdout);
    });
  });
}

interface Layout {
  /** `oci:DIR:1`, for skopeo. */
  ref: string;
  manifest: Buffer;
  layerDigest: string;
  layer: Buffer;
}

/** A one-layer OCI image layout written by hand, independent of sealbuild's own writer. */
async function makeLayout(dir: string): Promise<Layout> {
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs, { recursive: true });
  await writeFile(join(rootfs, 'hello.txt'), 'hello from the fixtures\n');
  // Random bytes do not compress: the blob is large enough to be cut part way.
  await writeFile(join(rootfs, 'noise.bin'), randomBytes(256 * 1024));
  const tarPath = join(dir, 'layer.tar');
  run('tar', ['-C', rootfs, '-cf', tarPath, '.']);
  const tar = await readFile(tarPath);
  const layer = gzipSync(tar);
  const layoutDir = join(dir, 'layout');
  const blobs = join(layoutDir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (data: Buffer | string): Promise<string> => {
    const digest = sha256(data);
    await writeFile(join(blobs, digest.slice('sha256:'.length)), data);
    return digest;
  };
  const layerDigest = await put(layer);
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
  });
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: Buffer.byteLength(config) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
  }));
  const manifestDigest = await put(manifest);
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layoutDir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: manifestDigest,
      size: manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': '1' },
    }],
  }));
  return { ref: `oci:${layoutDir}:1`, manifest, layerDigest, layer };
}

/** GET url; resolves with the bytes received and how the response ended (never rejects). */
function rawGet(url: string): Promise<{ status: number; bytes: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let status = 0;
    const done = (error?: string): void => resolve({ status, bytes: Buffer.concat(chunks), ...(error ? { error } : {}) });
    httpGet(url, { agent: false }, (res) => {
      status = res.statusCode ?? 0;
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => done());
      res.on('error', (err) => done(err.message));
      res.on('aborted', () => done('aborted'));
    }).on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

let work: string;
let image: Layout;
let ca: TestCA;
let serverCert: ServerCert;

before(async () => {
  work = await tempDir('sealbuild-fixtures-');
  image = await makeLayout(work);
  const certs = join(work, 'certs');
  await mkdir(certs);
  ca = await makeTestCA(certs);
  serverCert = await issueServerCert(ca, certs, []);
});

after(async () => {
  await removeDir(work);
});

describe('startRegistry', () => {
  it('serves plain HTTP: skopeo pushes and reads back the same manifest; stop() leaves nothing', async () => {
    const registry = await startRegistry();
    try {
      assert.match(registry.host, /^127\.0\.0\.1:\d+$/);
      assert.equal(registry.url, `http://${registry.host}`);
      assert.equal((await fetch(`${registry.url}/v2/`)).status, 200);
      const dest = `docker://${registry.host}/fixtures/plain:1`;
      await skopeo(['copy', '--dest-tls-verify=false', '--dest-no-creds', image.ref, dest]);
      const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', '--no-creds', dest]);
      assert.equal(sha256(raw), sha256(image.manifest));
      assert.ok(existsSync(join(registry.storageDir, 'docker/registry/v2/repositories/fixtures/plain/_manifests')));
    } finally {
      await registry.stop();
    }
    assert.equal(existsSync(registry.storageDir), false, 'the scratch dir is removed');
    await assert.rejects(fetch(`${registry.url}/v2/`), 'the registry is gone');
  });

  it('keeps a given storageDir across restarts', async () => {
    const storageDir = join(work, 'kept-storage');
    const first = await startRegistry({ storageDir });
    try {
      await skopeo(['copy', '--dest-tls-verify=false', '--dest-no-creds', image.ref, `docker://${first.host}/fixtures/kept:1`]);
    } finally {
      await first.stop();
    }
    const second = await startRegistry({ storageDir });
    try {
      const res = await fetch(`${second.url}/v2/fixtures/kept/tags/list`);
      assert.deepEqual(await res.json(), { name: 'fixtures/kept', tags: ['1'] });
    } finally {
      await second.stop();
    }
    assert.ok(existsSync(storageDir));
  });

  it('serves TLS: trusted with the test CA as cert dir, refused without it', async () => {
    const registry = await startRegistry({ tls: serverCert });
    try {
      assert.equal(registry.url, `https://${registry.host}`);
      const dest = `docker://${registry.host}/fixtures/tls:1`;
      // The CA's dir holds the CA key and server certs too: their names must not confuse skopeo.
      await skopeo(['copy', '--dest-cert-dir', join(work, 'certs'), '--dest-no-creds', image.ref, dest]);
      await assert.rejects(skopeo(['copy', '--dest-cert-dir', join(work, 'nowhere'), '--dest-no-creds', image.ref, dest]), /x509|certificate/);
    } finally {
      await registry.stop();
    }
  });

  it('enforces htpasswd basic auth', async () => {
    const registry = await startRegistry({ htpasswd: { user: 'alice', password: 's3cret' } });
    try {
      const challenge = await fetch(`${registry.url}/v2/`);
      assert.equal(challenge.status, 401);
      assert.match(challenge.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      const dest = `docker://${registry.host}/fixtures/basic:1`;
      await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:s3cret', image.ref, dest]);
      await assert.rejects(skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:wrong', image.ref, dest]), /unauthorized|401/i);
    } finally {
      await registry.stop();
    }
  });
});

describe('startTokenServer', () => {
  it('issues tokens distribution 2.8 accepts, by user and scope, and records what was asked', async () => {
    const tokens = await startTokenServer({ users: { alice: 's3cret' } });
    const registry = await startRegistry({ token: tokens });
    try {
      const challenge = await fetch(`${registry.url}/v2/`);
      assert.equal(challenge.status, 401);
      assert.equal(challenge.headers.get('www-authenticate'), `Bearer realm="${tokens.realm}",service="${tokens.service}"`);

      const dest = `docker://${registry.host}/fixtures/token:1`;
      await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:s3cret', image.ref, dest]);
      assert.ok(
        tokens.requests.some((r) => r.user === 'alice' && r.status === 200 && r.scopes.includes('repository:fixtures/token:pull,push')),
        JSON.stringify(tokens.requests),
      );

      // Anonymous: pull is granted, push is not.
      assert.equal(sha256(await skopeo(['inspect', '--raw', '--tls-verify=false', '--no-creds', dest])), sha256(image.manifest));
      await assert.rejects(skopeo(['copy', '--dest-tls-verify=false', '--dest-no-creds', image.ref, `docker://${registry.host}/fixtures/anon:1`]), /denied|unauthorized|401|403/i);

      await assert.rejects(skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:wrong', image.ref, dest]));
      assert.ok(tokens.requests.some((r) => r.user === 'alice' && r.status === 401));
    } finally {
      await registry.stop();
      await tokens.stop();
    }
  });

  it('supports OAuth2 password and refresh_token grants (identity tokens)', async () => {
    const tokens = await startTokenServer({ users: { alice: 's3cret' } });
    const registry = await startRegistry({ token: tokens });
    try {
      await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:s3cret', image.ref, `docker://${registry.host}/fixtures/oauth:1`]);
      const post = (form: Record<string, string>): Promise<Response> =>
        fetch(tokens.realm, { method: 'POST', body: new URLSearchParams({ service: tokens.service, client_id: 'fixtures', ...form }) });

      const wrong = await post({ grant_type: 'password', username: 'alice', password: 'nope', scope: 'repository:fixtures/oauth:pull' });
      assert.equal(wrong.status, 401);
      const password = await post({ grant_type: 'password', username: 'alice', password: 's3cret', scope: 'repository:fixtures/oauth:pull' });
      assert.equal(password.status, 200);
      const { refresh_token: refreshToken } = (await password.json()) as { refresh_token: string };
      assert.ok(refreshToken);

      assert.equal((await post({ grant_type: 'refresh_token', refresh_token: 'forged', scope: 'repository:fixtures/oauth:pull' })).status, 401);
      const refreshed = await post({ grant_type: 'refresh_token', refresh_token: refreshToken, scope: 'repository:fixtures/oauth:pull' });
      assert.equal(refreshed.status, 200);
      const body = (await refreshed.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
      assert.equal(body.token, body.access_token);
      assert.ok(body.expires_in > 0 && !Number.isNaN(Date.parse(body.issued_at)));

      const tags = await fetch(`${registry.url}/v2/fixtures/oauth/tags/list`, { headers: { authorization: `Bearer ${body.access_token}` } });
      assert.equal(tags.status, 200);
      assert.deepEqual(await tags.json(), { name: 'fixtures/oauth', tags: ['1'] });
      const last = tokens.requests.at(-1);
      assert.deepEqual(last && { method: last.method, grantType: last.grantType, user: last.user, scopes: last.scopes },
        { method: 'POST', grantType: 'refresh_token', user: 'alice', scopes: ['repository:fixtures/oauth:pull'] });
    } finally {
      await registry.stop();
      await tokens.stop();
    }
  });
});

describe('startFaultProxy', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let manifestDigest: string;
  before(async () => {
    registry = await startRegistry();
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-no-creds', image.ref, `docker://${registry.host}/fixtures/proxy:1`]);
    manifestDigest = sha256(image.manifest);
  });
  after(async () => {
    await registry.stop();
  });

  it('forwards transparently: Location points back at the proxy', async () => {
    const proxy = await startFaultProxy(registry.url, []);
    try {
      const upload = await fetch(`${proxy.url}/v2/fixtures/proxy/blobs/uploads/`, { method: 'POST' });
      assert.equal(upload.status, 202);
      assert.ok(upload.headers.get('location')?.startsWith(`${proxy.url}/v2/fixtures/proxy/blobs/uploads/`), upload.headers.get('location') ?? '');
      const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', '--no-creds', `docker://${proxy.host}/fixtures/proxy:1`]);
      assert.equal(sha256(raw), manifestDigest);
      assert.deepEqual(proxy.stats.faults, {});
    } finally {
      await proxy.stop();
    }
  });

  // skopeo 1.9 (containers/common retry) retries 429 and connection errors, never a 5xx.
  it('a 429 on the manifest PUT: skopeo --retry-times backs off and pushes through it', async () => {
    const proxy = await startFaultProxy(registry.url, [
      { match: (req) => req.method === 'PUT' && /\/manifests\//.test(req.url ?? ''), fault: { status429RetryAfter: 1 }, times: 1 },
    ]);
    try {
      await skopeo(['copy', '--retry-times', '2', '--dest-tls-verify=false', '--dest-no-creds', image.ref, `docker://${proxy.host}/fixtures/retried:1`]);
      assert.deepEqual(proxy.stats.faults, { status429: 1 });
      const res = await fetch(`${registry.url}/v2/fixtures/retried/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(res.headers.get('docker-content-digest'), manifestDigest);
    } finally {
      await proxy.stop();
    }
  });

  it('a 503 on the first blob HEAD reaches skopeo, which gives up', async () => {
    const proxy = await startFaultProxy(registry.url, [
      { match: (req) => req.method === 'HEAD' && /\/blobs\//.test(req.url ?? ''), fault: 'status503', times: 1 },
    ]);
    try {
      const push = skopeo(['copy', '--retry-times', '2', '--dest-tls-verify=false', '--dest-no-creds', image.ref, `docker://${proxy.host}/fixtures/unavailable:1`]);
      await assert.rejects(push, /503/);
      assert.deepEqual(proxy.stats.faults, { status503: 1 });
      assert.equal((await fetch(`${registry.url}/v2/fixtures/unavailable/tags/list`)).status, 404, 'nothing was pushed');
    } finally {
      await proxy.stop();
    }
  });

  it('answers status faults as planned, `times` times, then passes requests through', async () => {
    const isTags = (req: { url?: string }): boolean => (req.url ?? '').endsWith('/tags/list');
    const proxy = await startFaultProxy(registry.url, [
      { match: isTags, fault: { status429RetryAfter: 7 }, times: 1 },
      { match: isTags, fault: 'status500', times: 1 },
      { match: isTags, fault: 'status503', times: 2 },
    ]);
    try {
      const url = `${proxy.url}/v2/fixtures/proxy/tags/list`;
      const first = await fetch(url);
      assert.equal(first.status, 429);
      assert.equal(first.headers.get('retry-after'), '7');
      assert.deepEqual(((await first.json()) as { errors: { code: string }[] }).errors.map((e) => e.code), ['TOOMANYREQUESTS']);
      assert.equal((await fetch(url)).status, 500);
      assert.equal((await fetch(url)).status, 503);
      assert.equal((await fetch(url)).status, 503);
      const passed = await fetch(url);
      assert.equal(passed.status, 200);
      assert.deepEqual(await passed.json(), { name: 'fixtures/proxy', tags: ['1'] });
      assert.deepEqual(proxy.stats, { requests: 5, faults: { status429: 1, status500: 1, status503: 2 } });
    } finally {
      await proxy.stop();
    }
  });

  it('cuts a response after n body bytes, and corrupts one bit of a body', async () => {
    const blob = `/v2/fixtures/proxy/blobs/${image.layerDigest}`;
    const proxy = await startFaultProxy(registry.url, [
      { match: (req) => req.url === blob, fault: { dropAfterBytes: 1000 }, times: 1 },
      { match: (req) => req.url === blob, fault: 'corruptBlob', times: 1 },
    ]);
    try {
      const cut = await rawGet(`${proxy.url}${blob}`);
      assert.equal(cut.status, 200);
      assert.ok(cut.error, 'the response ends in an error, not a clean end');
      assert.equal(cut.bytes.length, 1000);
      assert.deepEqual(cut.bytes, image.layer.subarray(0, 1000));

      const corrupt = await rawGet(`${proxy.url}${blob}`);
      assert.equal(corrupt.error, undefined);
      assert.equal(corrupt.bytes.length, image.layer.length);
      assert.notEqual(sha256(corrupt.bytes), image.layerDigest);
      assert.equal(corrupt.bytes[0], (image.layer[0] ?? 0) ^ 1);
      assert.deepEqual(corrupt.bytes.subarray(1), image.layer.subarray(1));

      assert.equal(sha256((await rawGet(`${proxy.url}${blob}`)).bytes), image.layerDigest, 'both rules are spent');
    } finally {
      await proxy.stop();
    }
  });

  it('resets the connection after the target has processed the request', async () => {
    const proxy = await startFaultProxy(registry.url, [{ fault: 'resetBeforeResponse', times: 1 }]);
    try {
      const put = fetch(`${proxy.url}/v2/fixtures/proxy/manifests/after-reset`, {
        method: 'PUT',
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: image.manifest,
      });
      await assert.rejects(put);
      const res = await fetch(`${registry.url}/v2/fixtures/proxy/manifests/after-reset`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(res.status, 200, 'the PUT reached the registry before the reset');
      assert.deepEqual(proxy.stats.faults, { resetBeforeResponse: 1 });
    } finally {
      await proxy.stop();
    }
  });
});

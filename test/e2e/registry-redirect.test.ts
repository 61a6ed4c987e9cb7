import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, sealbuild, tempDir } from '../helpers/cli.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [] }));
const AUTH = `Basic ${Buffer.from('alice:pw').toString('base64')}`;

let work: string;
let registry: Server;
let storage: Server;
const storageHeaders: IncomingHttpHeaders[] = [];
const listen = (server: Server) => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)));

before(async () => {
  work = await tempDir();
  // Object storage on another host:port: blob downloads are redirected here, as registries
  // backed by S3 or a CDN do.
  storage = createServer((req, res) => {
    storageHeaders.push(req.headers);
    res.end(config);
  });
  const storageHost = await listen(storage);
  registry = createServer((req, res) => {
    if (req.headers.authorization !== AUTH) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    if (req.url === '/v2/') res.end('{}');
    else if (req.url === '/v2/team/app/manifests/1') res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': sha(manifest) }).end(manifest);
    else if (req.url === `/v2/team/app/blobs/${sha(config)}`) res.writeHead(307, { location: `http://${storageHost}/bucket/blob?signature=abc` }).end();
    else res.writeHead(404).end();
  });
  const host = await listen(registry);
  await mkdir(join(work, 'docker'));
  await writeFile(join(work, 'docker', 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from('alice:pw').toString('base64') } } }));
});
after(async () => {
  registry.close();
  storage.close();
  await removeDir(work);
});

test('a redirect to another host is followed without the Authorization header', async () => {
  const host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
  const result = await sealbuild(join(work, 'root'), ['pull', `${host}/team/app:1`], { env: { DOCKER_CONFIG: join(work, 'docker') } });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), sha(manifest));
  assert.equal(storageHeaders.length, 1);
  assert.equal(storageHeaders[0]!.authorization, undefined, 'credentials must not leak to the storage host');
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { issueServerCert, makeTestCA } from '../helpers/certs.js';
import { removeDir, run, sealbuild, sealbuildOk, tempDir, writeFiles } from '../helpers/cli.js';

let work: string;
let root: string;
let server: Server;
let baseUrl: string;
const PAYLOAD = Buffer.from('#!/bin/sh\necho downloaded\n');
const PAYLOAD_SUM = `sha256:${createHash('sha256').update(PAYLOAD).digest('hex')}`;
/** user:password of the /private/ downloads; the password has an '@', written %40 in URLs. */
const CREDENTIALS = 'bob:s3cr@t';
/** Another origin that /private/moved redirects to, and the Authorization headers it was sent. */
let other: Server;
let otherUrl: string;
const otherSaw: (string | undefined)[] = [];

before(async () => {
  work = await tempDir();
  root = join(work, 'root');
  server = createServer((req, res) => {
    const path = req.url?.split('?')[0];
    if (path === '/releases/v1/tool') res.end(PAYLOAD);
    else if (path?.startsWith('/private/') && req.headers.authorization !== `Basic ${Buffer.from(CREDENTIALS).toString('base64')}`) res.writeHead(401).end();
    else if (path === '/private/tool') res.end(PAYLOAD);
    else if (path === '/private/moved') res.writeHead(302, { location: `${otherUrl}/tool` }).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  other = createServer((req, res) => {
    otherSaw.push(req.headers.authorization);
    res.end(PAYLOAD);
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
});
after(async () => {
  server.close();
  other.close();
  await removeDir(work);
});

function context(name: string, files: Record<string, string>): Promise<string> {
  return writeFiles(join(work, name), files);
}

async function exported(ref: string, name: string): Promise<string> {
  const dir = join(work, `rootfs-${name}`);
  await sealbuildOk(root, ['export', ref, '-o', dir]);
  return dir;
}

async function tree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    out.push(path);
    if ((await stat(join(dir, path))).isDirectory()) out.push(...(await tree(dir, path)));
  }
  return out;
}

test('COPY . . copies the whole context except ignored files, with no root entry', async () => {
  const ctx = await context('dot', { Kubefile: 'FROM scratch\nCOPY . .\n', 'a.txt': 'a', 'sub/b.txt': 'b', 'skip.bak': 'x', '.dockerignore': '*.bak\n' });
  await sealbuildOk(root, ['-t', 'test/dot', ctx]);
  assert.deepEqual(await tree(await exported('test/dot', 'dot')), ['.dockerignore', 'Kubefile', 'a.txt', 'sub', 'sub/b.txt']);
  const info = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'test/dot'])).stdout);
  const layout = join(work, 'dot-layout');
  await sealbuildOk(root, ['save', '--format', 'oci-dir', '-o', layout, 'test/dot']);
  const names = run('tar', ['-tzf', join(layout, 'blobs', 'sha256', info.manifest.layers[0].digest.slice(7))]).trim().split('\n');
  assert.ok(!names.includes('./') && !names.includes(''), `no root entry in ${names.join(',')}`);
});

test('ADD unpacks local archives (ignore rules do not apply inside them) and downloads URLs with a checksum', async () => {
  const ctx = await context('add', {
    Kubefile: [
      'FROM scratch',
      'ADD bundle.tar.gz /opt/',
      `ADD --checksum=${PAYLOAD_SUM} ${baseUrl}/releases/v1/tool /usr/local/bin/`,
      `ADD --chmod=755 ${baseUrl}/releases/v1/tool?token=secret /usr/local/bin/tool-x`,
      '',
    ].join('\n'),
    '.dockerignore': '*.bak\n',
  });
  const src = join(work, 'archive-src');
  await mkdir(join(src, 'conf'), { recursive: true });
  await writeFile(join(src, 'conf', 'x.conf'), 'x=1\n');
  await writeFile(join(src, 'keep.bak'), 'inside the archive\n');
  run('tar', ['-czf', join(ctx, 'bundle.tar.gz'), '-C', src, 'conf', 'keep.bak']);
  await sealbuildOk(root, ['-t', 'test/add', ctx]);
  const dir = await exported('test/add', 'add');
  assert.deepEqual(await tree(dir), ['opt', 'opt/conf', 'opt/conf/x.conf', 'opt/keep.bak', 'usr', 'usr/local', 'usr/local/bin', 'usr/local/bin/tool', 'usr/local/bin/tool-x']);
  assert.equal(await readFile(join(dir, 'opt/conf/x.conf'), 'utf8'), 'x=1\n');
  assert.deepEqual(await readFile(join(dir, 'usr/local/bin/tool')), PAYLOAD);
  assert.equal((await stat(join(dir, 'usr/local/bin/tool'))).mode & 0o777, 0o600, 'docker gives URL downloads 0600');
  assert.equal((await stat(join(dir, 'usr/local/bin/tool-x'))).mode & 0o777, 0o755);

  // The SBOM lists both downloads with their checksums, from the config label the build wrote; the query (which may carry a token) is not in it.
  const sbom = JSON.parse((await sealbuildOk(root, ['sbom', 'test/add'])).stdout) as { packages: { name: string; downloadLocation: string; checksums?: { checksumValue: string }[]; comment?: string }[] };
  const downloads = sbom.packages.filter((p) => p.downloadLocation !== 'NOASSERTION');
  assert.deepEqual(downloads.map((p) => [p.name, p.downloadLocation, p.checksums?.[0]?.checksumValue, p.comment]), [
    ['tool', `${baseUrl}/releases/v1/tool`, PAYLOAD_SUM.slice(7), 'downloaded by the Kubefile into /usr/local/bin/'],
    ['tool', `${baseUrl}/releases/v1/tool`, PAYLOAD_SUM.slice(7), 'downloaded by the Kubefile into /usr/local/bin/tool-x'],
  ]);
  const inspected = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'test/add'])).stdout);
  const label = inspected.config.config.Labels['io.sealbuild.downloads'] as string;
  assert.ok(!label.includes('secret'), label);
  // Nor is it in the history, which keeps the instruction's text.
  const history = (inspected.config.history as { created_by: string }[]).map((h) => h.created_by);
  assert.ok(history.includes(`ADD --chmod=755 ${baseUrl}/releases/v1/tool /usr/local/bin/tool-x`), history.join('\n'));
});

test('ADD https://user:password@host/… downloads with Basic auth, kept from other origins, logs and the image', async () => {
  const withCredentials = baseUrl.replace('http://', 'http://bob:s3cr%40t@');
  const ctx = await context('add-auth', {
    Kubefile: ['FROM scratch', `ADD --checksum=${PAYLOAD_SUM} ${withCredentials}/private/tool /a`, `ADD ${withCredentials}/private/moved /b`, ''].join('\n'),
  });
  const built = await sealbuildOk(root, ['-t', 'test/add-auth', ctx]);
  const dir = await exported('test/add-auth', 'add-auth');
  assert.deepEqual(await readFile(join(dir, 'a')), PAYLOAD);
  assert.deepEqual(await readFile(join(dir, 'b')), PAYLOAD);
  assert.deepEqual(otherSaw, [undefined], 'the redirect to another origin carries no Authorization');
  const inspected = (await sealbuildOk(root, ['inspect', '--json', 'test/add-auth'])).stdout;
  for (const text of [built.stdout, built.stderr, inspected]) assert.ok(!/s3cr|bob/.test(text), text);
  assert.match(inspected, new RegExp(`ADD --checksum=${PAYLOAD_SUM} ${baseUrl.replace(/[.]/g, '\\.')}/private/tool /a`));
});

test('ADD https://… trusts the CAs in NODE_EXTRA_CA_CERTS, and no other', async () => {
  const certs = join(work, 'certs');
  await mkdir(certs);
  const ca = await makeTestCA(certs);
  const tls = await issueServerCert(ca, certs, []);
  const secure = createHttpsServer({ cert: await readFile(tls.cert), key: await readFile(tls.key) }, (_req, res) => res.end(PAYLOAD));
  await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
  try {
    const ctx = await context('add-https', { Kubefile: `FROM scratch\nADD https://127.0.0.1:${(secure.address() as AddressInfo).port}/tool /tool\n` });
    const untrusted = await sealbuild(root, ['-t', 'test/add-https', ctx], { env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });
    assert.equal(untrusted.code, 1, untrusted.stderr);
    assert.match(untrusted.stderr, /ADD https:\/\/127\.0\.0\.1:\d+\/tool: download failed: .*certificate/);
    await sealbuildOk(root, ['-t', 'test/add-https', ctx], { env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.caCert } });
    assert.deepEqual(await readFile(join(await exported('test/add-https', 'add-https'), 'tool')), PAYLOAD);
  } finally {
    secure.close();
  }
});

test('APP, CNI, APPCMDS, APPENV and LAUNCH produce files, labels and the sealer extension', async () => {
  const ctx = await context('apps', {
    Kubefile: [
      'FROM scratch',
      'APP dashboard local://charts/dashboard',
      'CNI calico local://cni/calico.yaml',
      'APP setup local://setup.sh',
      'APP custom local://custom.bin',
      'APPCMDS custom ["./custom.bin", "--install"]',
      'APPENV dashboard replicas=2 title="My Dash"',
      'LAUNCH ["calico", "dashboard", "custom"]',
      '',
    ].join('\n'),
    'charts/dashboard/Chart.yaml': 'name: dashboard\n',
    'charts/dashboard/values.yaml': 'replicas: 1\n',
    'charts/dashboard/templates/deploy.yaml': 'kind: Deployment\n',
    'cni/calico.yaml': 'kind: DaemonSet\n',
    'setup.sh': 'echo setup\n',
    'custom.bin': 'binary',
  });
  await sealbuildOk(root, ['-t', 'test/apps', ctx]);
  const dir = await exported('test/apps', 'apps');
  assert.deepEqual((await tree(dir)).filter((p) => p.startsWith('application/apps/')), [
    'application/apps/calico', 'application/apps/calico/calico.yaml',
    'application/apps/custom', 'application/apps/custom/custom.bin',
    // A directory's contents land in the app's root (sealer copies SRC... to APPROOT/): helm installs APPROOT.
    'application/apps/dashboard', 'application/apps/dashboard/Chart.yaml',
    'application/apps/dashboard/templates', 'application/apps/dashboard/templates/deploy.yaml', 'application/apps/dashboard/values.yaml',
    'application/apps/setup', 'application/apps/setup/setup.sh',
  ]);
  const info = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'test/apps'])).stdout);
  assert.equal(info.labels['cluster.alpha.sealer.io/kube-cni-calico'], 'true');
  const ext = JSON.parse(info.annotations['sealer.image.extension']);
  const byName = Object.fromEntries(ext.applications.map((a: { name: string }) => [a.name, a]));
  assert.equal(byName.dashboard.type, 'helm');
  assert.deepEqual(byName.dashboard.env, { replicas: '2', title: 'My Dash' });
  assert.equal(byName.calico.type, 'kube');
  assert.equal(byName.setup.type, 'shell');
  assert.equal(byName.custom.type, undefined);
  assert.deepEqual(byName.custom.cmds, ['./custom.bin', '--install']);
  assert.deepEqual(ext.launch.app_names, ['calico', 'dashboard', 'custom']);
  assert.equal(ext.type, 'kube-installer');
});

test('FROM an image in the store layers on top, keeps its env, labels and apps, and records the base', async () => {
  const baseCtx = await context('base', {
    Kubefile: 'FROM scratch\nENV A=1\nLABEL tier=base\nCOPY manifests manifests\nAPP web local://web.yaml\n',
    'manifests/imageList': '# no images yet\n',
    'web.yaml': 'kind: Service\n',
  });
  const baseDigest = (await sealbuildOk(root, ['-t', 'test/base:v1', baseCtx])).stdout.trim();
  const ctx = await context('child', {
    Kubefile: 'ARG BASE=test/base:v1\nFROM $BASE\nENV B=${A}2\nCOPY extra.txt manifests\nLAUNCH ["web"]\n',
    'extra.txt': 'extra',
  });
  await sealbuildOk(root, ['-t', 'test/child:v1', ctx]);
  const info = JSON.parse((await sealbuildOk(root, ['inspect', '--json', 'test/child:v1'])).stdout);
  assert.deepEqual(info.config.config.Env, ['A=1', 'B=12']);
  assert.equal(info.labels.tier, 'base');
  assert.equal(info.manifest.layers.length, 3);
  assert.equal(info.annotations['org.opencontainers.image.base.name'], 'docker.io/test/base:v1');
  assert.equal(info.annotations['org.opencontainers.image.base.digest'], baseDigest);
  assert.deepEqual(JSON.parse(info.annotations['sealer.image.extension']).launch.app_names, ['web']);
  // manifests/ existed in the base, so the file went into it (docker's rule for existing dirs).
  assert.deepEqual(await tree(await exported('test/child:v1', 'child')), ['application', 'application/apps', 'application/apps/web', 'application/apps/web/web.yaml', 'manifests', 'manifests/extra.txt', 'manifests/imageList']);
});

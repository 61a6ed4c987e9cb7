import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run, sealbuildOk, tool, writeFiles } from '../helpers/cli.js';
import { goTool } from '../helpers/go-tools.js';
import { registryScratch, removeRegistryScratch, type Registry } from '../helpers/registry.js';

/*
 * The SBOM: SPDX 2.3 JSON from what the image holds, attached by `push` as an OCI referrer,
 * found by the real oras (`discover`, `pull`) on distribution 2.8 (referrers tag schema).
 */

interface Spdx {
  spdxVersion: string;
  packages: { SPDXID: string; name: string; versionInfo?: string; checksums?: { algorithm: string; checksumValue: string }[]; comment?: string; externalRefs?: { referenceLocator: string }[] }[];
  files: { SPDXID: string; fileName: string; fileTypes: string[]; checksums: { algorithm: string; checksumValue: string }[] }[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
}

let work: string;
let root: string;
let registry: Registry;
let h: string;
let crane: string;
let oras: string;
let cachedDigest: string;

const hash = (algorithm: string, bytes: Buffer) => createHash(algorithm).update(bytes).digest('hex');

before(async () => {
  crane = goTool('crane');
  oras = goTool('oras');
  ({ work, root, registry, h } = await registryScratch());
  // A container image the ClusterImage caches into registry/.
  const app = await writeFiles(join(work, 'app'), { 'Kubefile': 'FROM scratch\nCOPY a.txt /\n', 'a.txt': 'app\n' });
  await sealbuildOk(root, ['-t', `${h}/lib/app:1`, '--platform', 'linux/amd64', app]);
  cachedDigest = (await sealbuildOk(root, ['push', `${h}/lib/app:1`])).stdout.trim();

  const ctx = await writeFiles(join(work, 'ctx'), {
    'Kubefile': 'FROM scratch\nCOPY bin bin\nCOPY opt opt\nCOPY charts charts\nCOPY manifests manifests\n',
    'bin/hello.sh': '#!/bin/sh\necho hello\n',
    'opt/notes.txt': 'not listed: neither in a bin dir nor ELF\n',
    'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 1.2.3\nappVersion: "4.5"\n',
    'manifests/imageList': `${h}/lib/app:1\n`,
  });
  await mkdir(join(ctx, 'opt', 'tools'), { recursive: true });
  // A real Go binary in bin/, and the same ELF outside any bin dir.
  await copyFile(crane, join(ctx, 'bin', 'crane'));
  await copyFile(crane, join(ctx, 'opt', 'tools', 'crane.elf'));
  await sealbuildOk(root, ['-t', `${h}/team/cluster:1`, '--platform', 'linux/amd64', ctx], { env: { ...process.env, PATH: process.env.PATH!.split(':').filter((d) => !d.includes('sealbuild-tools')).join(':') } });
});
after(() => removeRegistryScratch(registry, work));

test('sbom prints SPDX 2.3: binaries with SHA1/SHA256 and Go module version, cached images with digest and platform, charts', async () => {
  const doc = JSON.parse((await sealbuildOk(root, ['sbom', `${h}/team/cluster:1`])).stdout) as Spdx;
  assert.equal(doc.spdxVersion, 'SPDX-2.3');
  const craneBytes = await readFile(crane);
  const byName = new Map(doc.files.map((f) => [f.fileName, f]));
  assert.deepEqual([...byName.keys()], ['./bin/crane', './bin/hello.sh', './opt/tools/crane.elf']);
  for (const name of ['./bin/crane', './opt/tools/crane.elf']) {
    const file = byName.get(name)!;
    assert.deepEqual(file.fileTypes, ['BINARY']);
    assert.deepEqual(file.checksums, [{ algorithm: 'SHA1', checksumValue: hash('sha1', craneBytes) }, { algorithm: 'SHA256', checksumValue: hash('sha256', craneBytes) }]);
  }
  assert.deepEqual(byName.get('./bin/hello.sh')!.fileTypes, ['OTHER']);
  assert.equal(byName.get('./bin/hello.sh')!.checksums[1]!.checksumValue, hash('sha256', Buffer.from('#!/bin/sh\necho hello\n')));

  // crane says it was built from go-containerregistry at the version setup.sh pins.
  const module = doc.packages.find((p) => p.name === 'github.com/google/go-containerregistry')!;
  assert.equal(module.versionInfo, 'v0.22.1');
  assert.ok(doc.relationships.some((r) => r.spdxElementId === byName.get('./bin/crane')!.SPDXID && r.relationshipType === 'GENERATED_FROM' && r.relatedSpdxElement === module.SPDXID));

  const cached = doc.packages.find((p) => p.name === `${h}/lib/app`)!;
  assert.equal(cached.versionInfo, '1');
  assert.deepEqual(cached.checksums, [{ algorithm: 'SHA256', checksumValue: cachedDigest.slice(7) }]);
  assert.match(cached.comment!, /linux\/amd64/);
  assert.match(cached.externalRefs![0]!.referenceLocator, new RegExp(`^pkg:oci/app@sha256%3A${cachedDigest.slice(7)}\\?`));

  const chart = doc.packages.find((p) => p.name === 'web')!;
  assert.equal(chart.versionInfo, '1.2.3');
  const image = doc.packages.find((p) => p.SPDXID === 'SPDXRef-Image')!;
  const stored = JSON.parse((await sealbuildOk(root, ['inspect', '--json', `${h}/team/cluster:1`])).stdout) as { digest: string };
  assert.equal(`sha256:${image.checksums![0]!.checksumValue}`, stored.digest);
  for (const p of [cached, chart]) assert.ok(doc.relationships.some((r) => r.spdxElementId === 'SPDXRef-Image' && r.relationshipType === 'CONTAINS' && r.relatedSpdxElement === p.SPDXID));
  // The same image gives the same bytes.
  assert.equal((await sealbuildOk(root, ['sbom', `${h}/team/cluster:1`])).stdout, JSON.stringify(doc, null, 2) + '\n');
});

test('push attaches the SBOM as a referrer: oras discover lists it, oras pull fetches the same bytes', async () => {
  const ref = `${h}/team/cluster:1`;
  const pushed = await sealbuildOk(root, ['push', ref]);
  const digest = pushed.stdout.trim();
  assert.match(pushed.stderr, /Attached the SBOM of linux\/amd64 \(sha256:[0-9a-f]{64}\) to .* \(tag schema\)/);
  // Pushing again adds no second referrer.
  await sealbuildOk(root, ['push', ref]);
  const discovered = JSON.parse(run(oras, ['discover', '--plain-http', '--format', 'json', `${h}/team/cluster@${digest}`])) as { referrers: { digest: string; artifactType: string }[] };
  assert.equal(discovered.referrers.length, 1, JSON.stringify(discovered));
  assert.equal(discovered.referrers[0]!.artifactType, 'application/spdx+json');

  const out = join(work, 'pulled');
  run(oras, ['pull', '--plain-http', '-o', out, `${h}/team/cluster@${discovered.referrers[0]!.digest}`]);
  const expected = (await sealbuildOk(root, ['sbom', ref])).stdout;
  assert.equal(await readFile(join(out, 'sbom.spdx.json'), 'utf8'), expected);
});

test('save carries the SBOM beside the image: skopeo (nameless), umoci and oci-image-tool read the bundle; load keeps it, and push at the site attaches it', async () => {
  const ref = `${h}/team/cluster:1`;
  const expected = (await sealbuildOk(root, ['sbom', ref])).stdout;
  const digest = (JSON.parse((await sealbuildOk(root, ['inspect', '--json', ref])).stdout) as { digest: string }).digest;
  const archive = join(work, 'carry.tar');
  const saved = await sealbuildOk(root, ['save', ref, '-o', archive]);
  assert.match(saved.stderr, /carries 1 SBOM\(s\)/);
  // index.json lists the image alone; the referrer is named in its annotation, its blobs are in blobs/.
  const index = JSON.parse(run('tar', ['-xOf', archive, 'index.json'])) as { manifests: { digest: string }[]; annotations: Record<string, string> };
  assert.deepEqual(index.manifests.map((m) => m.digest), [digest]);
  const [attachment] = JSON.parse(index.annotations['io.sealbuild.bundle.attachments']!) as { name: string; digest: string }[];
  assert.equal(attachment!.name, `${h}/team/cluster:sha256-${digest.slice(7)}`);
  const referrers = JSON.parse(run('tar', ['-xOf', archive, `blobs/sha256/${attachment!.digest.slice(7)}`])) as { manifests: { digest: string; artifactType: string }[] };
  assert.deepEqual(referrers.manifests.map((m) => m.artifactType), ['application/spdx+json']);
  const artifact = JSON.parse(run('tar', ['-xOf', archive, `blobs/sha256/${referrers.manifests[0]!.digest.slice(7)}`])) as { subject: { digest: string }; layers: { digest: string }[] };
  assert.equal(artifact.subject.digest, digest);
  assert.equal(run('tar', ['-xOf', archive, `blobs/sha256/${artifact.layers[0]!.digest.slice(7)}`]), expected);

  // The readers that take a layout's only image, or one by name, see the image alone.
  const skopeo = JSON.parse(run(tool('skopeo', 'skopeo'), ['inspect', `oci-archive:${archive}`])) as { Digest: string };
  assert.equal(skopeo.Digest, digest);
  const dir = join(work, 'carry-dir');
  await sealbuildOk(root, ['save', '--format', 'oci-dir', ref, '-o', dir]);
  assert.match(run(tool('oci-image-tool', 'oci-image-tool'), ['validate', '--type', 'image', '--ref', `name=${ref}`, dir]), /Validation succeeded|OK/);
  run(tool('umoci', 'umoci'), ['unpack', '--rootless', '--image', `${dir}:${ref}`, join(work, 'carry-unpacked')]);
  assert.equal(await readFile(join(work, 'carry-unpacked', 'rootfs', 'bin', 'hello.sh'), 'utf8'), '#!/bin/sh\necho hello\n');

  // The site keeps the referrer under its tag (not listed as an image), prints it, and pushes it.
  const site = join(work, 'carry-site');
  const loaded = await sealbuildOk(site, ['load', '-i', archive]);
  assert.match(loaded.stderr, /Loaded 1 image\(s\) and 1 SBOM\(s\)/);
  const tags = (JSON.parse(await readFile(join(site, 'oci', 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] }).manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']);
  assert.deepEqual(tags.sort(), [ref, attachment!.name].sort());
  assert.deepEqual((await sealbuildOk(site, ['images', '--names'])).stdout.trim().split('\n'), [ref]);
  assert.equal((await sealbuildOk(site, ['sbom', ref])).stdout, expected);
  await sealbuildOk(site, ['push', ref, `${h}/site/cluster:1`]);
  const discovered = JSON.parse(run(oras, ['discover', '--plain-http', '--format', 'json', `${h}/site/cluster@${digest}`])) as { referrers: { digest: string }[] };
  assert.deepEqual(discovered.referrers.map((r) => r.digest), [referrers.manifests[0]!.digest]);
});

test('on a registry with the referrers API (go-containerregistry): its API lists the SBOM push attached', async (t) => {
  const server = spawn(goTool('referrers-registry'), [], { stdio: ['pipe', 'pipe', 'inherit'] });
  // It stops when its stdin closes (test/tools/referrers-registry).
  t.after(async () => {
    server.stdin.end();
    if (server.exitCode === null) await once(server, 'close');
  });
  const [line] = (await once(server.stdout, 'data')) as [Buffer];
  const host = line.toString().trim();
  const ref = `${h}/team/cluster:1`;
  const pushed = await sealbuildOk(root, ['push', ref, `${host}/team/cluster:1`]);
  const digest = pushed.stdout.trim();
  // That registry indexes the subject but does not say so (no OCI-Subject answer), so the
  // distribution spec has the client keep the tag schema's index as well.
  const attached = /Attached the SBOM of linux\/amd64 \((sha256:[0-9a-f]{64})\) .* \(tag schema\)/.exec(pushed.stderr);
  assert.ok(attached, pushed.stderr);
  const response = await fetch(`http://${host}/v2/team/cluster/referrers/${digest}`);
  assert.equal(response.status, 200);
  // Its listing gives the config's media type as artifactType, not the manifest's: the digest is what counts.
  const listed = (await response.json()) as { manifests: { digest: string }[] };
  assert.deepEqual(listed.manifests.map((m) => m.digest), [attached[1]]);
  // oras reads that API, and pulls the document sealbuild prints.
  const discovered = JSON.parse(run(oras, ['discover', '--plain-http', '--format', 'json', `${host}/team/cluster@${digest}`])) as { referrers: { digest: string }[] };
  assert.deepEqual(discovered.referrers.map((r) => r.digest), [attached[1]]);
  const out = join(work, 'from-api');
  run(oras, ['pull', '--plain-http', '-o', out, `${host}/team/cluster@${attached[1]}`]);
  assert.equal(await readFile(join(out, 'sbom.spdx.json'), 'utf8'), (await sealbuildOk(root, ['sbom', ref])).stdout);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeElf, elfMatches, isElfChecked, parseElfHeader } from '../../src/runtime/elf.js';
import { declaredRuntime, expectedMetadata, metadataDifference, mirroredLabels, parseMetadata, serializeMetadata } from '../../src/runtime/metadata.js';
import { UserError } from '../../src/util/errors.js';
import { elfStub } from '../helpers/releases.js';

test('ELF headers: machine, class and byte order decide the architecture; other files are not ELF', () => {
  for (const arch of ['amd64', 'arm64', 'arm', 's390x', 'ppc64le', 'riscv64']) {
    const elf = parseElfHeader(elfStub(arch, 'x'));
    assert.ok(elf, arch);
    assert.ok(elfMatches(elf, { os: 'linux', architecture: arch }), `${arch} matches itself`);
  }
  const arm64 = parseElfHeader(elfStub('arm64', 'k3s'))!;
  assert.deepEqual(arm64, { machine: 183, bits: 64, endian: 'little' });
  assert.ok(!elfMatches(arm64, { os: 'linux', architecture: 'amd64' }));
  assert.equal(describeElf(arm64), 'arm64 (aarch64)');
  assert.equal(describeElf({ machine: 62, bits: 32, endian: 'little' }), 'e_machine 62, 32-bit little-endian');
  assert.equal(parseElfHeader(Buffer.from('#!/bin/sh\necho not a binary at all\n')), undefined);
  assert.equal(parseElfHeader(Buffer.from('\x7fELF', 'latin1')), undefined, 'too short');
  assert.ok(isElfChecked('bin/k3s') && isElfChecked('opt/sealctl') && isElfChecked('usr/local/bin/x'));
  assert.ok(!isElfChecked('cri/containerd.tar.gz') && !isElfChecked('registry/docker/registry/v2/blobs/sha256/aa/x/data') && !isElfChecked('binaries/k3s'));
});

test('Metadata comes from the labels and ENV: version, kubeVersion, runtime, container runtime, registry', () => {
  const labels = new Map([['cluster.alpha.sealer.io/cluster-runtime-type', 'k3s'], ['cluster.alpha.sealer.io/cluster-runtime-version', 'v1.34.2+k3s1']]);
  assert.equal(declaredRuntime(labels), 'k3s');
  const metadata = expectedMetadata('k3s', labels, new Map([['REGISTRY_PORT', '5443']]), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(metadata, { version: 'v1.34.2+k3s1', arch: 'arm', variant: 'v7', kubeVersion: 'v1.34.2', clusterRuntime: 'k3s', containerRuntime: 'containerd', registry: { domain: 'sea.hub', port: 5443 } });
  assert.deepEqual(parseMetadata(serializeMetadata(metadata), 'Metadata'), metadata);
  assert.equal(mirroredLabels(metadata).get('sealos.io.distribution'), 'k3s');
  assert.equal(mirroredLabels(metadata).get('app.alpha.sealer.io/supported-kube-version'), 'v1.34.2');

  // sealos' labels alone declare it too; KUBEVERSION alone gives the version when it is exact.
  const sealos = new Map([['sealos.io.distribution', 'kubernetes'], ['app.alpha.sealer.io/supported-kube-version', 'v1.30.4']]);
  assert.equal(expectedMetadata(declaredRuntime(sealos)!, sealos, new Map(), { os: 'linux', architecture: 'amd64' }).version, 'v1.30.4');
  assert.throws(() => declaredRuntime(new Map([['cluster.alpha.sealer.io/cluster-runtime-type', 'k8s']])), /is not a cluster runtime sealbuild knows/);
  // ... and so does sealos' newer name (#14 point 7).
  assert.equal(declaredRuntime(new Map([['apps.sealos.io/distribution', 'k3s']])), 'k3s');
  assert.throws(() => declaredRuntime(new Map([['apps.sealos.io/distribution', 'rke2']])), /label apps\.sealos\.io\/distribution=rke2 is not a cluster runtime/);
  assert.throws(() => expectedMetadata('k0s', new Map([['cluster.alpha.sealer.io/cluster-runtime-type', 'k0s']]), new Map(), { os: 'linux', architecture: 'amd64' }), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.match(err.message, /the k0s image for linux\/amd64 declares no version/);
    return true;
  });
  assert.throws(() => expectedMetadata('k3s', labels, new Map([['REGISTRY_PORT', 'http']]), { os: 'linux', architecture: 'amd64' }), /REGISTRY_PORT=http is not a port number/);

  // sealer writes v8 for arm64, which is the same platform as no variant.
  assert.equal(metadataDifference({ ...metadata, arch: 'arm64', variant: 'v8' }, { ...metadata, arch: 'arm64', variant: '' }), undefined);
  assert.deepEqual(metadataDifference({ ...metadata, kubeVersion: 'v1.33.0' }, metadata), { field: 'kubeVersion', found: '"v1.33.0"', expected: '"v1.34.2"' });
  assert.throws(() => parseMetadata(Buffer.from('{"version":"v1","arch":"amd64"}'), 'Metadata'), /Metadata: invalid document at "variant"/);
  assert.throws(() => parseMetadata(Buffer.from('{'), 'Metadata'), /Metadata: not valid JSON/);
});

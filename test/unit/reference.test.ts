import assert from 'node:assert/strict';
import { test } from 'node:test';
import { familiarName, normalizeReference, parseReference } from '../../src/oci/reference.js';
import { formatPlatform, parsePlatform, parsePlatformList } from '../../src/oci/platform.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

test('references normalise as docker does', () => {
  const cases: [string, string][] = [
    ['ubuntu', 'docker.io/library/ubuntu:latest'],
    ['ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['my/app:v1', 'docker.io/my/app:v1'],
    ['docker.io/nginx', 'docker.io/library/nginx:latest'],
    ['index.docker.io/library/nginx:1', 'docker.io/library/nginx:1'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/team/app:v2', 'localhost:5000/team/app:v2'],
    ['registry.example.com/a/b/c:1.0-rc.1', 'registry.example.com/a/b/c:1.0-rc.1'],
    [`nginx@${DIGEST}`, `docker.io/library/nginx@${DIGEST}`],
    [`nginx:1.25@${DIGEST}`, `docker.io/library/nginx:1.25@${DIGEST}`],
    ['[::1]:5000/app:x', '[::1]:5000/app:x'],
  ];
  for (const [input, expected] of cases) assert.equal(normalizeReference(input), expected, input);
});

test('a tag and a digest are both kept (sealos #2051)', () => {
  const ref = parseReference(`quay.io/x/y:v1@${DIGEST}`);
  assert.deepEqual(ref, { domain: 'quay.io', path: 'x/y', tag: 'v1', digest: DIGEST });
});

test('familiar names drop docker.io and library/', () => {
  assert.equal(familiarName(parseReference('ubuntu')), 'ubuntu');
  assert.equal(familiarName(parseReference('my/app')), 'my/app');
  assert.equal(familiarName(parseReference('localhost:5000/library/x')), 'localhost:5000/library/x');
});

test('malformed references are usage errors naming the problem', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['My/App', /lowercase/],
    ['app:', /not a valid tag/],
    ['app@sha256:123', /not a sha256 digest/],
    ['a//b', /not a valid path component/],
    ['-app', /not a valid path component/],
    [`x/${'a'.repeat(260)}`, /longer than 255/],
  ];
  for (const [input, pattern] of bad) {
    assert.throws(() => parseReference(input), (err: Error & { exitCode?: number }) => pattern.test(err.message) && err.exitCode === 2, input);
  }
});

test('platforms parse and normalise like containerd', () => {
  assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatform('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatformList('linux/amd64, linux/arm64,linux/amd64').map(formatPlatform), ['linux/amd64', 'linux/arm64']);
  assert.throws(() => parsePlatform('linux/sparc'), /unknown architecture "sparc"/);
  assert.throws(() => parsePlatform('amd64'), /not a platform/);
  assert.throws(() => parsePlatform('linux/arm/v9'), /unknown arm variant/);
});

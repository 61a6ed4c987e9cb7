import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/cli.js';

// The README says what scripts/setup.sh installs on a fresh machine (#21 point 10): every apt
// package it names, so nobody is surprised by what a setup installs.
test("README's setup paragraph names every apt package scripts/setup.sh installs", () => {
  const setup = readFileSync(join(REPO, 'scripts/setup.sh'), 'utf8');
  const packages = new Set([...setup.matchAll(/\[[^\]\s]+\]=([a-z0-9.+-]+)/g)].map((m) => m[1]!));
  assert.ok(packages.has('skopeo') && packages.has('apache2-utils'), [...packages].join(' '));
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const paragraph = readme.slice(readme.indexOf('`scripts/setup.sh` installs'), readme.indexOf('`.ci/run` runs'));
  assert.deepEqual([...packages].filter((p) => !new RegExp(`\\b${p.replace(/[.+]/g, '\\$&')}\\b`).test(paragraph)), []);
});

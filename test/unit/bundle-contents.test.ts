import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, REPO } from '../helpers/cli.js';

// What the bin's bundle (scripts/bundle.mjs, dist/cli/) carries of the libraries: only what
// sealbuild runs, since every command parses the chunks it loads on start-up.

const chunks = readdirSync(join(REPO, 'dist', 'cli'))
  .filter((name) => name.endsWith('.js'))
  .map((name) => readFileSync(join(REPO, 'dist', 'cli', name), 'utf8'));

test("the bundle keeps zod's English messages and leaves out its other languages", () => {
  // en.js's message for a wrong type, and de.js's and nl.js's for the same issue (ASCII parts:
  // esbuild writes other characters as escapes).
  assert.ok(chunks.some((text) => text.includes('Invalid input: expected')), 'English messages are bundled');
  for (const foreign of ['Eingabe: erwartet', 'Ongeldige invoer']) {
    assert.ok(!chunks.some((text) => text.includes(foreign)), `"${foreign}" is not bundled`);
  }
});

test('the bin is one file: --version reads no other module, and it prints the version in package.json', () => {
  const bin = readFileSync(CLI, 'utf8');
  // CommonJS (no ES module loader for --version), requiring Node's own modules only, and main.js only when a command runs.
  assert.ok(CLI.endsWith('.cjs'), CLI);
  assert.deepEqual([...bin.matchAll(/(?:from|require\()\s*["']([^"']+)["']/g)].map((m) => m[1]).filter((spec) => !spec!.startsWith('node:')), []);
  assert.deepEqual([...bin.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]), ['./main.js']);
  const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  const run = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, `${version}\n`);
  // Run as a program, as npm's bin link runs it: the shebang's `env -S node FLAGS` must start Node.
  const direct = spawnSync(CLI, ['--version'], { encoding: 'utf8' });
  assert.equal(direct.status, 0, direct.stderr);
  assert.equal(direct.stdout, `${version}\n`);
});

test('the bin keeps Node 20 from reading NODE_EXTRA_CA_CERTS at start (90 ms here); TLS reads it when it connects', () => {
  // Node 20 warns about an unreadable file at start (`node BIN --version` does), so with the
  // variable passed on to Node this fails there; Node 24 reads the file on first TLS use itself.
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(REPO, 'no-such-ca-bundle.pem') };
  const direct = spawnSync(CLI, ['--version'], { encoding: 'utf8', env });
  assert.equal(direct.status, 0, direct.stderr);
  assert.equal(direct.stderr, '');
});

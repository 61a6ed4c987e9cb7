import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/cli.js';

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

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/cli.js';

// Each basefs directory is a self-contained build context (COPY cannot reach outside it), so
// the scripts every runtime shares exist once per runtime. They must not drift apart.
const RUNTIMES = ['k3s', 'k0s', 'kubernetes'];

for (const script of ['common.sh', 'init-registry.sh']) {
  test(`basefs/*/scripts/${script} is the same for every runtime`, async () => {
    const [first, ...others] = await Promise.all(RUNTIMES.map((r) => readFile(join(REPO, 'basefs', r, 'scripts', script), 'utf8')));
    for (const [i, other] of others.entries()) assert.equal(other, first, `basefs/${RUNTIMES[i + 1]}/scripts/${script} differs from basefs/k3s's: change all copies together`);
  });
}

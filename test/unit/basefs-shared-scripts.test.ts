import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/cli.js';

// Each basefs directory is a self-contained build context (COPY cannot reach outside it), so
// the scripts every runtime shares exist once per runtime. They must not drift apart.
const RUNTIMES = ['k3s', 'k0s', 'kubernetes'];

// The scripts sealos' labels name (docs/rootfs-contract.md) exist for its distributions only.
const SHARED: [string, string[]][] = [
  ['common.sh', RUNTIMES],
  ['init-registry.sh', RUNTIMES],
  ['check.sh', ['k3s', 'kubernetes']],
  ['clean-registry.sh', ['k3s', 'kubernetes']],
];

for (const [script, runtimes] of SHARED) {
  test(`basefs/{${runtimes.join(',')}}/scripts/${script} is the same everywhere`, async () => {
    const [first, ...others] = await Promise.all(runtimes.map((r) => readFile(join(REPO, 'basefs', r, 'scripts', script), 'utf8')));
    for (const [i, other] of others.entries()) assert.equal(other, first, `basefs/${runtimes[i + 1]}/scripts/${script} differs from basefs/${runtimes[0]}'s: change all copies together`);
  });
}

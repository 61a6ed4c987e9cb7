import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO } from './cli.js';

/** The cluster binaries no package offers, faked for the test bed (test/fixtures/fakes). */
export type FakeTool = 'k3s' | 'k0s' | 'kubeadm' | 'kubelet' | 'kubectl';

const FAKES = join(REPO, 'test', 'fixtures', 'fakes');

/**
 * One fake as a self-contained executable script: test/fixtures/fakes/<tool> with the shared
 * lib.sh put in at its `# @lib` line and `version` as the version it reports and records on
 * its node (so an upgrade test can tell the old binary from the new one).
 */
export async function fakeBinary(tool: FakeTool, version: string): Promise<Buffer> {
  const [body, lib] = await Promise.all([readFile(join(FAKES, tool), 'utf8'), readFile(join(FAKES, 'lib.sh'), 'utf8')]);
  if (!body.includes('\n# @lib\n')) throw new Error(`${tool}: no "# @lib" line to put lib.sh at`);
  return Buffer.from(body.replace('\n# @lib\n', `\n${lib}\n`).replaceAll('@VERSION@', version));
}

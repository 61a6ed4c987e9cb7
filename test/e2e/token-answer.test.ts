import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Store } from '../../src/store/store.js';
import { removeDir, tempDir } from '../helpers/cli.js';
import { expectRefused, startHostileRegistry } from '../helpers/hostile-registry.js';

/*
 * Issue #15 point 7: a token service's answer is read with the one JSON reader, so a
 * malformed one is one error line naming the token service, exit 1, no ZodError and no
 * "looks like a bug".
 */

let work: string;
before(async () => {
  work = await tempDir('sealbuild-token-');
});
after(async () => {
  await removeDir(work);
});

for (const [what, answer, message] of [
  ['not JSON', '{"token": ', /token service of 127\.0\.0\.1:\d+: the answer: not valid JSON/],
  ['a token that is not a string', '{"token": 5}', /token service of 127\.0\.0\.1:\d+: the answer: invalid document at "token"/],
] as const) {
  test(`a token answer that is ${what} is one error naming the token service`, async () => {
    const registry = await startHostileRegistry({});
    try {
      registry.routes['/v2/'] = { serve: '{}', status: 401, headers: { 'www-authenticate': `Bearer realm="${registry.url}/token",service="hostile"` } };
      registry.routes['/token'] = { serve: answer, headers: { 'content-type': 'application/json' } };
      // A store that exists already, so "the store is as it was" checks something.
      const root = await mkdtemp(join(work, 'root-'));
      await Store.open(root);
      await expectRefused(root, ['--timeout', '2', 'pull', '--platform', 'linux/amd64', `${registry.host}/hostile/app:1`], message);
    } finally {
      await registry.stop();
    }
  });
}

import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { extract } from 'tar-stream';
import { rootfsTar, storedImageView } from '../../src/cluster/deliver.js';
import { choosePlatform, readTagged } from '../../src/store/image.js';
import { Store } from '../../src/store/store.js';
import { removeDir, sealbuildOk, tempDir } from '../helpers/cli.js';

/*
 * The rootfs tar the installer streams to each host (cluster/deliver.ts), read here instead of
 * by a host's tar: what it holds is what every host gets.
 */

let work: string;
let root: string;

before(async () => {
  work = await tempDir();
  root = join(work, 'root');
  const ctx = join(work, 'ctx');
  await mkdir(join(ctx, 'bin'), { recursive: true });
  await writeFile(join(ctx, 'bin', 'raise'), '#!/bin/sh\n');
  await chmod(join(ctx, 'bin', 'raise'), 0o6755);
  await writeFile(join(ctx, 'gone.txt'), 'removed by the next layer\n');
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY bin bin\nCOPY gone.txt /\nRUN rm gone.txt\n');
  await sealbuildOk(root, ['-t', 'test/deliver:v1', '--platform', 'linux/amd64', ctx]);
});
after(() => removeDir(work));

test('the rootfs sent to hosts applies whiteouts and drops setuid/setgid, as export does', async () => {
  const store = await Store.open(root);
  const image = choosePlatform(await readTagged(store, 'docker.io/test/deliver:v1', 'test/deliver:v1'), undefined, 'test/deliver:v1');
  const modes = new Map<string, number>();
  const reader = extract();
  reader.on('entry', (header, body, next) => {
    modes.set(header.name, header.mode ?? 0);
    body.on('end', next);
    body.resume();
  });
  await new Promise<void>((resolve, reject) => {
    reader.on('finish', resolve).on('error', reject);
    (async () => rootfsTar(store, image, await storedImageView(store, image, 'test/deliver:v1')).on('error', reject).pipe(reader))().catch(reject);
  });
  assert.equal(modes.get('bin/raise'), 0o755, `bin/raise is ${modes.get('bin/raise')?.toString(8)}`);
  assert.ok(!modes.has('gone.txt'), [...modes.keys()].join(', '));
});

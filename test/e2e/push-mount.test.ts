/*
 * push mounts a blob from any repository of the destination registry that the store knows
 * holds it (pulled from or pushed to before), whatever the image is called locally; only
 * blobs no repository there is known to hold are uploaded. Against distribution's registry.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeDir, sealbuildOk, tempDir } from '../helpers/cli.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

let work: string;
let root: string;
let env: NodeJS.ProcessEnv;
let registry: Registry;
let other: Registry;
/** The built image's config and layers. */
let blobs: string[];

const cliOk = (args: string[], r = root) => sealbuildOk(r, args, { env });

/** How each blob went up, by the push's progress lines: digest prefix → exists, mounted or uploaded. */
function outcomes(stderr: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of stderr.matchAll(/^ {2}blob ([0-9a-f]{12}) (exists|mounted|uploaded)$/gm)) found.set(match[1]!, match[2]!);
  return found;
}

function all(state: string): Map<string, string> {
  return new Map(blobs.map((d) => [d.slice(7, 19), state]));
}

/** The repositories the registry's filesystem links `digest` into. */
async function linkedIn(storage: string, repos: string[], digest: string): Promise<string[]> {
  const linked: string[] = [];
  for (const repo of repos) {
    const layers = join(storage, 'docker', 'registry', 'v2', 'repositories', repo, '_layers', 'sha256');
    if ((await readdir(layers).catch(() => [] as string[])).includes(digest.slice(7))) linked.push(repo);
  }
  return linked;
}

before(async () => {
  work = await tempDir('sealbuild-mount-');
  root = join(work, 'root');
  env = { DOCKER_CONFIG: join(work, 'docker'), REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '' };
  [registry, other] = await Promise.all([startRegistry(), startRegistry()]);
  const ctx = join(work, 'ctx');
  await mkdir(join(ctx, 'bin'), { recursive: true });
  await writeFile(join(ctx, 'Kubefile'), 'FROM scratch\nCOPY bin/ bin/\nCOPY app.conf etc/\nLABEL purpose=mount\n');
  await writeFile(join(ctx, 'bin', 'tool'), 'a tool\n'.repeat(1000));
  await writeFile(join(ctx, 'app.conf'), 'key=value\n');
  await cliOk(['-t', 'local/app:v1', ctx]);
  const info = JSON.parse((await cliOk(['inspect', '--json', 'local/app:v1'])).stdout);
  blobs = [info.manifest.config.digest, ...info.manifest.layers.map((l: { digest: string }) => l.digest)];
});
after(async () => {
  await Promise.all([registry?.stop(), other?.stop()]);
  await removeDir(work);
});

test('a locally built image pushed next to a repository holding its blobs is mounted, not uploaded', async () => {
  const first = await cliOk(['push', 'local/app:v1', `${registry.host}/team/app:v1`]);
  assert.deepEqual(outcomes(first.stderr), all('uploaded'));
  // Its local name (docker.io/local/app) says nothing about this registry: the store remembers.
  const second = await cliOk(['push', 'local/app:v1', `${registry.host}/other/copy:v1`]);
  assert.deepEqual(outcomes(second.stderr), all('mounted'));
  assert.doesNotMatch(second.stderr, /uploading/);
  for (const digest of blobs) assert.deepEqual(await linkedIn(registry.storageDir, ['team/app', 'other/copy'], digest), ['team/app', 'other/copy']);
  // Another registry has none of them: uploaded there, never "mounted" from the first one.
  const elsewhere = await cliOk(['push', 'local/app:v1', `${other.host}/team/app:v1`]);
  assert.deepEqual(outcomes(elsewhere.stderr), all('uploaded'));
});

test('blobs pulled from a repository are mounted from it when the image is pushed under another name', async () => {
  const pulled = join(work, 'root-pulled');
  await cliOk(['pull', `${registry.host}/team/app:v1`], pulled);
  await cliOk(['tag', `${registry.host}/team/app:v1`, 'renamed/app:v2'], pulled);
  await cliOk(['rmi', `${registry.host}/team/app:v1`], pulled);
  const pushed = await cliOk(['push', 'renamed/app:v2', `${registry.host}/third/app:v2`], pulled);
  assert.deepEqual(outcomes(pushed.stderr), all('mounted'));
  // prune forgets where blobs were only for blobs it removes.
  assert.equal((await readdir(join(pulled, 'cache', 'blob-sources'))).length, blobs.length);
  await cliOk(['rmi', 'renamed/app:v2'], pulled);
  await cliOk(['prune'], pulled);
  assert.deepEqual(await readdir(join(pulled, 'cache', 'blob-sources')), []);
});

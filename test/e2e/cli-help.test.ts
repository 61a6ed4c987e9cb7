import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, removeDir, sealbuild, sealbuildOk, tempDir, writeFiles } from '../helpers/cli.js';

// The CLI as people meet it at the terminal (#17 points 4 and 5, #21): shell completion from the
// command definitions, examples in --help, did-you-mean, and what `images` says about indexes.

let dir: string;
let root: string;

before(async () => {
  dir = await tempDir('sealbuild-cli-help-');
  root = join(dir, 'root');
  await writeFiles(join(dir, 'ctx'), { Kubefile: 'FROM scratch\nCOPY a /a\n', a: 'hello\n' });
  await sealbuildOk(root, ['build', '-t', 'team/app:amd', '--platform', 'linux/amd64', join(dir, 'ctx')]);
  await sealbuildOk(root, ['build', '-t', 'team/app:arm', '--platform', 'linux/arm64', join(dir, 'ctx')]);
  await sealbuildOk(root, ['manifest', 'create', 'team/app:v1', 'team/app:amd', 'team/app:arm']);
});
after(async () => removeDir(dir));

/** Runs bash's completion function for each line (the cursor at its end), as bash does on TAB: line -> what it offers. */
async function complete(lines: string[]): Promise<Map<string, string>> {
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  // `sealbuild` on PATH, as after `npm install -g`: the completion calls it for image names.
  await writeFile(join(bin, 'sealbuild'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`);
  await chmod(join(bin, 'sealbuild'), 0o755);
  const script = [
    'set -u',
    'source <(sealbuild completion bash) || exit 9',
    'complete -p sealbuild >&2',
    // What bash sets before calling the function: the line, the cursor, the words (split at its COMP_WORDBREAKS).
    't() { COMP_LINE=$1; COMP_POINT=${#1}; COMP_WORDS=($1); COMP_CWORD=${#COMP_WORDS[@]}; COMPREPLY=(); _sealbuild_complete sealbuild; printf "%s\\t%s\\n" "$1" "${COMPREPLY[*]}"; }',
    ...lines.map((line) => `t '${line}'`),
  ].join('\n');
  const child = spawn('bash', ['-c', script], { cwd: dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.match(stderr, /complete -F _sealbuild_complete sealbuild/);
  return new Map(stdout.trimEnd().split('\n').map((row) => row.split('\t') as [string, string]));
}

test('bash completion: commands, subcommands, flags, flag values and image names from the store', async () => {
  const r = `--root ${root}`;
  const offers = await complete([
    'sealbuild ima',
    'sealbuild manifest ',
    'sealbuild build --compr',
    'sealbuild build --compression ',
    `sealbuild ${r} inspect team/app:a`,
    `sealbuild --root=${root} save team/app:amd team/`,
    `sealbuild ${r} manifest create team/app:v2 team/app:amd `,
    'sealbuild inspect --platform=linux/arm',
    'sealbuild --progress ',
    'sealbuild -t x/y:1 ct',
    'sealbuild completion ',
  ]);
  const at = (line: string) => offers.get(line);
  assert.equal(at('sealbuild ima'), 'images');
  assert.equal(at('sealbuild manifest '), 'create add inspect push');
  assert.equal(at('sealbuild build --compr'), '--compression');
  assert.equal(at('sealbuild build --compression '), 'gzip zstd none');
  // bash splits words at ':', so what is offered is what follows it.
  assert.equal(at(`sealbuild ${r} inspect team/app:a`), 'amd arm');
  assert.equal(at(`sealbuild --root=${root} save team/app:amd team/`), 'team/app:amd team/app:arm team/app:v1');
  assert.equal(at(`sealbuild ${r} manifest create team/app:v2 team/app:amd `), 'team/app:amd team/app:arm team/app:v1');
  assert.equal(at('sealbuild inspect --platform=linux/arm'), 'linux/arm64 linux/arm/v7');
  assert.equal(at('sealbuild --progress '), 'auto tty plain json quiet');
  // The bare form: the word after build's flags is a build context directory.
  assert.equal(at('sealbuild -t x/y:1 ct'), 'ctx');
  assert.equal(at('sealbuild completion '), 'bash zsh fish');
});

test('zsh and fish scripts are generated from the same definitions', async () => {
  const zsh = (await sealbuildOk(root, ['completion', 'zsh'])).stdout;
  assert.match(zsh, /^#compdef sealbuild\n/);
  assert.match(zsh, /bashcompinit/);
  assert.match(zsh, /'build'\) echo '[^']*--compression/);
  const fish = (await sealbuildOk(root, ['completion', 'fish'])).stdout;
  assert.match(fish, /complete -c sealbuild -n '__sealbuild_at build' -l compression -x -a 'gzip zstd none'/);
  assert.match(fish, /complete -c sealbuild -n '__sealbuild_at manifest' -a 'create'/);
});

test('--help shows examples; unknown commands and flags suggest the closest, in one line', async () => {
  for (const [args, example] of [
    [['build', '--help'], '$ sealbuild build -t my/k3s:v1 --platform linux/amd64,linux/arm64 mycluster/'],
    [['manifest', 'create', '--help'], '$ sealbuild manifest create reg/k3s:v1'],
    [['--help'], '$ sealbuild -t my/app:v1 examples/hello'],
  ] as const) {
    const help = await sealbuildOk(root, [...args]);
    assert.ok(help.stdout.includes(`Examples:\n`) && help.stdout.includes(example), `${args.join(' ')}: ${help.stdout}`);
  }
  const cases: [string[], string][] = [
    [['imags', '--json'], 'Error: unknown command "imags" (hint: did you mean images?)\n'],
    [['build', '--tagg', 'x', 'ctx'], "Error: unknown option '--tagg' (hint: did you mean --tag? see sealbuild build --help)\n"],
    [['images', '--jsno'], "Error: unknown option '--jsno' (hint: did you mean --json? see sealbuild images --help)\n"],
    [['manifest', 'craete', 'a', 'b'], "Error: unknown command 'craete' (hint: did you mean create? see sealbuild manifest --help)\n"],
  ];
  for (const [args, line] of cases) {
    const result = await sealbuild(root, args, { cwd: dir });
    assert.deepEqual([result.code, result.stderr, result.stdout], [2, line, ''], args.join(' '));
  }
});

test('images: an index lists every platform; one the store lacks is marked; --names lists names', async () => {
  // A partly pulled index: the store holds it but not one platform's manifest (as `pull
  // --platform` leaves it, or `manifest create` from images only in a registry).
  const index = JSON.parse((await sealbuildOk(root, ['inspect', 'team/app:v1', '--json'])).stdout) as { images: { digest: string; platform: string }[] };
  const arm = index.images.find((i) => i.platform === 'linux/arm64')!;
  await sealbuildOk(root, ['rmi', 'team/app:arm']);
  await rm(join(root, 'oci', 'blobs', 'sha256', arm.digest.slice('sha256:'.length)));
  const table = (await sealbuildOk(root, ['images'])).stdout.split('\n');
  const row = table.find((line) => line.startsWith('team/app') && /\bv1\b/.test(line));
  assert.match(row ?? table.join('\n'), /linux\/amd64,linux\/arm64\(not pulled\)\s+\S+ \S*B\s+1970-01-01T00:00:00Z$/);
  const json = JSON.parse((await sealbuildOk(root, ['images', '--json'])).stdout) as { tag: string; platforms: string[]; notPulled: string[] }[];
  assert.deepEqual(json.find((r) => r.tag === 'v1')!.notPulled, ['linux/arm64']);
  assert.equal((await sealbuildOk(root, ['images', '--names'])).stdout, 'team/app:amd\nteam/app:v1\n');
});

test('inspect --images lists the container images a ClusterImage caches, for save (no jq)', async () => {
  const ctx = await writeFiles(join(dir, 'cluster'), { Kubefile: 'FROM scratch\nCOPY manifests manifests\n', 'manifests/imageList': 'oci-archive:app.tar:docker.io/team/app:amd\n' });
  await sealbuildOk(root, ['save', 'team/app:amd', '-o', join(ctx, 'app.tar')]);
  await sealbuildOk(root, ['build', '-t', 'team/cluster:v1', '--platform', 'linux/amd64', ctx]);
  assert.equal((await sealbuildOk(root, ['inspect', 'team/cluster:v1', '--platform', 'linux/amd64', '--images'])).stdout, 'docker.io/team/app:amd\n');
  // What it prints is what save takes.
  await sealbuildOk(root, ['save', 'docker.io/team/app:amd', '-o', join(dir, 'bundle.tar')]);
  assert.equal((await sealbuildOk(root, ['inspect', 'team/app:amd', '--images'])).stdout, '', 'an image that caches none prints nothing');
});

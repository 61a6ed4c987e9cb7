import assert from 'node:assert/strict';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, removeDir, sealbuild, sealbuildOk, spawnCollect, tempDir, tool, writeFiles } from '../helpers/cli.js';

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

type Shell = 'bash' | 'zsh' | 'fish';

/**
 * What each shell offers on TAB at the end of each line, through the script `sealbuild
 * completion SHELL` prints, loaded in that real shell: line -> the offers, space-separated.
 *  - bash: its completion function, called with COMP_LINE/COMP_POINT/COMP_WORDS as bash sets them.
 *  - zsh: compinit, then the function the script registered in $_comps (bashcompinit's glue), with
 *    words/CURRENT/PREFIX as zsh sets them; compadd is replaced by one that prints what it is
 *    given and, as compadd does, keeps only what starts with the word typed.
 *  - fish: `complete -C LINE`, fish's own completion engine.
 */
async function complete(shell: Shell, lines: string[]): Promise<Map<string, string>> {
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  // `sealbuild` on PATH, as after `npm install -g`: the completion calls it for image names.
  await writeFile(join(bin, 'sealbuild'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`);
  await chmod(join(bin, 'sealbuild'), 0o755);
  const quoted = lines.map((line) => `'${line}'`).join(' ');
  const scripts: Record<Shell, [string[], string]> = {
    bash: [['-c'], [
      'set -u',
      'source <(sealbuild completion bash) || exit 9',
      'complete -p sealbuild >&2',
      // What bash sets before calling the function: the line, the cursor, the words (split at its COMP_WORDBREAKS).
      't() { COMP_LINE=$1; COMP_POINT=${#1}; COMP_WORDS=($1); COMP_CWORD=${#COMP_WORDS[@]}; COMPREPLY=(); _sealbuild_complete sealbuild; printf "%s\\t%s\\n" "$1" "${COMPREPLY[*]}"; }',
      `for l in ${quoted}; do t "$l"; done`,
    ].join('\n')],
    zsh: [['-f', '-c'], [
      'autoload -U compinit && compinit -u -D',
      'source <(sealbuild completion zsh) || exit 9',
      'print -u2 -r -- "registered: $_comps[sealbuild]"',
      'compadd() { local -a a; a=("$@"); local i=${a[(i)-]} m; for m in "${(@)a[i+1,-1]}"; do [[ $m == ${PREFIX}* ]] && offers+=("$m"); done; }',
      't() {',
      '  local -a words offers; words=(${(z)1}); [[ $1 == *" " ]] && words+=("")',
      '  local CURRENT=${#words} PREFIX=${words[-1]} IPREFIX= QIPREFIX= SUFFIX= ISUFFIX=',
      '  ${=_comps[sealbuild]}',
      '  print -r -- "$1	${(j: :)offers}"',
      '}',
      `for l in ${quoted}; do t "$l"; done`,
    ].join('\n')],
    fish: [['--no-config', '-c'], [
      'sealbuild completion fish | source; or exit 9',
      'complete -c sealbuild >&2',
      `for l in ${quoted}; printf '%s\\t%s\\n' "$l" (string join -- ' ' (complete -C"$l" | string replace -r '\\t.*' '')); end`,
    ].join('\n')],
  };
  const [flags, script] = scripts[shell];
  const result = await spawnCollect(tool(shell, shell), [...flags, script], { cwd: dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, { bash: /complete -F _sealbuild_complete sealbuild/, zsh: /registered: _bash_complete -F _sealbuild_complete/, fish: /complete .*sealbuild/ }[shell]);
  return new Map(result.stdout.trimEnd().split('\n').map((row) => row.split('\t') as [string, string]));
}

for (const shell of ['bash', 'zsh', 'fish'] as const) {
  test(`${shell} completion, run in ${shell}: commands, subcommands, flags, flag values and image names from the store`, async () => {
    const r = `--root ${root}`;
    const sorted = (words: string) => (shell === 'fish' ? words.split(' ').sort().join(' ') : words);
    const offers = await complete(shell, [
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
    assert.equal(at('sealbuild manifest '), sorted('create add inspect push'));
    assert.equal(at('sealbuild build --compr'), '--compression');
    assert.equal(at('sealbuild build --compression '), sorted('gzip zstd none'));
    // bash splits words at ':' and '=', so it offers what follows them; zsh and fish offer whole words.
    assert.equal(at(`sealbuild ${r} inspect team/app:a`), shell === 'bash' ? 'amd arm' : 'team/app:amd team/app:arm');
    assert.equal(at(`sealbuild --root=${root} save team/app:amd team/`), 'team/app:amd team/app:arm team/app:v1');
    assert.equal(at(`sealbuild ${r} manifest create team/app:v2 team/app:amd `), 'team/app:amd team/app:arm team/app:v1');
    assert.equal(at('sealbuild inspect --platform=linux/arm'), shell === 'bash' ? 'linux/arm64 linux/arm/v7' : sorted('--platform=linux/arm64 --platform=linux/arm/v7'));
    assert.equal(at('sealbuild --progress '), sorted('auto tty plain json quiet'));
    // The bare form: the word after build's flags is a build context directory.
    assert.equal(at('sealbuild -t x/y:1 ct'), shell === 'fish' ? 'ctx/' : 'ctx');
    assert.equal(at('sealbuild completion '), sorted('bash zsh fish'));
  });
}

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

import type { Command } from 'commander';

/**
 * The examples `--help` shows under each command, by command path (as `sealbuild X --help`
 * is typed). Every command has some: test/unit/cli-help.test.ts fails for one without.
 */
export const HELP_EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  '': ['sealbuild -t my/app:v1 examples/hello                # build (the default command)', 'sealbuild images', 'sealbuild COMMAND --help'],
  build: [
    'sealbuild build -t my/k3s:v1 --platform linux/amd64,linux/arm64 mycluster/',
    'sealbuild -t my/app:v1 -f Kubefile.dev --build-arg VERSION=1.2 .',
    'sealbuild build --dry-run .                           # parse and check, build nothing',
  ],
  images: ['sealbuild images', 'sealbuild images --json', 'sealbuild images --names            # one name a line, for scripts'],
  inspect: ['sealbuild inspect my/app:v1', 'sealbuild inspect my/k3s:v1 --platform linux/arm64 --json', 'sealbuild inspect my/k3s:v1 --platform linux/amd64 --images   # the container images it caches'],
  pull: ['sealbuild pull docker.io/library/registry:2.8.3', 'sealbuild pull --all-platforms reg.example.com/team/app:v1', 'sealbuild pull --verify-key site.pub reg.example.com/team/app:v1'],
  push: ['sealbuild push my/app:v1 registry.example.com/team/app:v1', 'sealbuild --cert-dir certs/ push reg.example.com/team/app:v1', 'sealbuild push --sign-key site.key my/app:v1 reg.example.com/team/app:v1'],
  save: [
    'sealbuild save my/k3s:v1 my/app:v2 -o site-bundle.tar.zst',
    'sealbuild save my/app:v2 --format docker-archive --platform linux/amd64 -o app.tar',
    'sealbuild save my/k3s:v2 --since my/k3s:v1 -o upgrade.tar.zst   # only what v1 lacks',
  ],
  load: ['sealbuild load -i site-bundle.tar.zst', 'sealbuild load -i bundle-dir/            # an OCI layout directory (save --format oci-dir)'],
  manifest: ['sealbuild manifest create reg/k3s:v1 reg/k3s:v1-amd64 reg/k3s:v1-arm64', 'sealbuild manifest push reg/k3s:v1'],
  'manifest create': ['sealbuild manifest create reg/k3s:v1 reg/k3s:v1-amd64 reg/k3s:v1-arm64'],
  'manifest add': ['sealbuild manifest add reg/k3s:v1 reg/k3s:v1-riscv64'],
  'manifest inspect': ['sealbuild manifest inspect reg/k3s:v1'],
  'manifest push': ['sealbuild manifest push reg/k3s:v1', 'sealbuild manifest push reg/k3s:v1 reg.example.com/team/k3s:v1'],
  export: ['sealbuild export my/app:v1 -o rootfs/', 'sealbuild export my/k3s:v1 --platform linux/arm64 -o rootfs-arm64/'],
  tag: ['sealbuild tag my/app:v1 my/app:latest', 'sealbuild tag my/app:v1 reg.example.com/team/app:v1'],
  rmi: ['sealbuild rmi my/app:latest', 'sealbuild rmi my/app:v1 my/app:v2 && sealbuild prune'],
  prune: ['sealbuild prune                        # the build cache and blobs no tag uses'],
  login: ['echo "$TOKEN" | sealbuild login registry.example.com -u alice --password-stdin'],
  logout: ['sealbuild logout registry.example.com'],
  sign: ['sealbuild sign --key site.key reg.example.com/team/app:v1'],
  key: ['sealbuild key generate -o site          # site.key (0600) and site.pub'],
  'key generate': ['sealbuild key generate -o site          # site.key (0600) and site.pub'],
  sbom: ['sealbuild sbom my/k3s:v1 --platform linux/amd64 > k3s-amd64.spdx.json'],
  init: ['sealbuild init --runtime k3s mycluster/ && sealbuild -t my/k3s:v1 mycluster/', 'sealbuild init --runtime kubernetes --base my/kubernetes:v1.34 kube/'],
  verify: ['sealbuild verify my/k3s:v1', 'sealbuild verify --platform linux/amd64 --json rootfs/'],
  run: ['sealbuild run my/k3s:v1 --masters 192.168.0.2 --nodes 192.168.0.3,192.168.0.4 -p "$PASS"', 'sealbuild run -f Clusterfile'],
  add: ['sealbuild add --nodes 192.168.0.6 -p "$PASS"', 'sealbuild add --masters 192.168.0.7 --pk ~/.ssh/id_ed25519'],
  delete: ['sealbuild delete --nodes 192.168.0.6'],
  upgrade: ['sealbuild upgrade my/k3s:v1.35'],
  reset: ['sealbuild reset', 'sealbuild reset --cluster staging'],
  status: ['sealbuild status', 'sealbuild status --json'],
  completion: [
    'source <(sealbuild completion bash)                       # this shell; add it to ~/.bashrc to keep it',
    'sealbuild completion zsh > "${fpath[1]}/_sealbuild"',
    'sealbuild completion fish > ~/.config/fish/completions/sealbuild.fish',
  ],
};

/** The space-separated path of `command` below the program ('' for the program). */
export function commandPath(command: Command): string {
  const words: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) words.unshift(c.name());
  return words.join(' ');
}

/** Adds each command's examples to the end of its --help, for `command` and every command below it. */
export function addHelpExamples(command: Command): void {
  const examples = HELP_EXAMPLES[commandPath(command)];
  if (examples !== undefined) command.addHelpText('after', `\nExamples:\n${examples.map((line) => `  $ ${line}`).join('\n')}`);
  for (const sub of command.commands) addHelpExamples(sub);
}

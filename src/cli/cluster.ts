import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { checkHosts, parseAddressList, parseClusterfile, parseEnv, type ClusterSpec, type HostSpec, type Role, type SshSpec } from '../cluster/clusterfile.js';
import { addHosts, deleteHosts, resetCluster, runCluster, upgradeCluster } from '../cluster/installer.js';
import type { AccessOptions } from '../cluster/session.js';
import { checkClusterName, readClusterState, type ClusterState } from '../cluster/state.js';
import { UsageError } from '../util/errors.js';
import { collect, openStore, printJson, readStdin, reporterFor } from './common.js';
import { resolveVerified } from './sign.js';

/** The flags sealer and sealos users know for reaching hosts, shared by every cluster command. */
interface AccessFlags {
  user?: string;
  passwd?: string;
  pk?: string;
  pkPasswd?: string;
  port?: string;
  cluster: string;
  insecureHostKeys?: boolean;
  knownHosts?: string;
}

function withAccessFlags(command: Command): Command {
  return command
    .option('-u, --user <name>', 'SSH user (default root; others use sudo)')
    .option('-p, --passwd <password>', 'SSH password (visible in the process list: prefer --passwd-stdin)')
    .option('--passwd-stdin', 'read the SSH password from standard input')
    .option('--pk <file>', 'SSH private key (default ~/.ssh/id_rsa)')
    .option('--pk-passwd <passphrase>', 'passphrase of the private key')
    .option('--port <port>', 'SSH port (default 22)')
    .option('--cluster <name>', 'which cluster (its state lives under ROOT/clusters/NAME)', 'default')
    .option('--insecure-host-keys', 'accept any SSH host key (default: the key must be in known_hosts)')
    .option('--known-hosts <file>', 'the known_hosts file to check host keys against (default ~/.ssh/known_hosts)')
    .hook('preAction', async (_program, action) => {
      // The password piped in becomes --passwd for the rest of the command, as login does it.
      const { passwd, passwdStdin } = action.opts<AccessFlags & { passwdStdin?: boolean }>();
      if (passwd !== undefined && passwdStdin) throw new UsageError('give the SSH password with one of --passwd-stdin or -p, not both', 'e.g. echo "$PASS" | sealbuild run IMAGE --masters IP --passwd-stdin');
      if (passwd !== undefined) reporterFor(action).warn('an SSH password on the command line is visible to other users; use --passwd-stdin');
      if (!passwdStdin) return;
      const piped = await readStdin();
      if (piped === '') throw new UsageError('--passwd-stdin: standard input is empty', 'pipe the SSH password in, e.g. echo "$PASS" | sealbuild …');
      action.setOptionValue('passwd', piped);
    });
}

function sshFlags(flags: AccessFlags): SshSpec {
  const ssh: SshSpec = {};
  if (flags.user !== undefined) ssh.user = flags.user;
  if (flags.passwd !== undefined) ssh.passwd = flags.passwd;
  if (flags.pk !== undefined) ssh.pk = flags.pk;
  if (flags.pkPasswd !== undefined) ssh.pkPasswd = flags.pkPasswd;
  if (flags.port !== undefined) {
    const port = Number(flags.port);
    if (!/^\d+$/.test(flags.port) || port < 1 || port > 65535) throw new UsageError(`--port "${flags.port}" is not a port number`, 'give 1-65535, e.g. --port 22');
    ssh.port = port;
  }
  return ssh;
}

function access(flags: AccessFlags, ssh = sshFlags(flags)): AccessOptions {
  const options: AccessOptions = { ssh, insecureHostKeys: flags.insecureHostKeys === true };
  if (flags.knownHosts !== undefined) options.knownHostsFile = flags.knownHosts;
  return options;
}

/** --masters / --nodes into hosts. */
function flagHosts(flags: { masters?: string; nodes?: string }): HostSpec[] {
  const hosts: HostSpec[] = [];
  const add = (text: string | undefined, role: Role, flag: string) => {
    for (const ip of text === undefined ? [] : parseAddressList(text, flag)) hosts.push({ ip, role, ssh: {} });
  };
  add(flags.masters, 'master', '--masters');
  add(flags.nodes, 'node', '--nodes');
  return hosts;
}

function printHosts(state: ClusterState): void {
  const rows = [['HOST', 'ROLE', 'PLATFORM', 'NODE', 'PHASE'], ...state.hosts.map((h) => [h.ip, h.role, h.platform ?? '-', h.nodeName ?? '-', h.phase ?? '-'])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
}

/** run's and upgrade's --verify-key: checked against the store before any host is touched. */
const VERIFY_KEY_HELP = 'refuse the image unless the store holds a signature of it by this public key (from `pull --verify-key` or a bundle); checked before any host is touched';

export function runCommand(): Command {
  return withAccessFlags(
    new Command('run')
      .description('install a ClusterImage on hosts over SSH: deliver its rootfs, start its registry, init and join')
      .argument('[image]', 'the ClusterImage (in the store); with -f, overrides spec.image')
      .option('--masters <ips>', 'control-plane hosts, comma separated (the first one inits and runs the registry)')
      .option('--nodes <ips>', 'worker hosts, comma separated')
      .option('-f, --file <Clusterfile>', 'hosts, ssh, env, datastore, controlPlaneEndpoint, registryHA as a Clusterfile')
      .option('--registry-ha', "run the image's registry on every master (default: the first only); every host resolves its domain to all of them")
      .option('-e, --env <K=V>', 'environment for the image scripts (repeatable)', collect, [])
      .option('--verify-key <file>', VERIFY_KEY_HELP),
  ).action(async (image: string | undefined, flags: AccessFlags & { masters?: string; nodes?: string; file?: string; env: string[]; verifyKey?: string; registryHa?: boolean }, command: Command) => {
    let spec: ClusterSpec;
    const flagSsh = sshFlags(flags);
    if (flags.file !== undefined) {
      const text = await readFile(flags.file, 'utf8').catch(() => {
        throw new UsageError(`-f ${flags.file}: cannot read the file`, 'give the path of a Clusterfile');
      });
      spec = parseClusterfile(text, flags.file, image);
      if (flags.masters !== undefined || flags.nodes !== undefined) spec.hosts = flagHosts(flags);
      if (command.getOptionValueSource('cluster') === 'cli') spec.name = flags.cluster;
      spec.env = { ...spec.env, ...parseEnv(flags.env, '--env') };
    } else {
      if (image === undefined) throw new UsageError('run needs an image', 'sealbuild run IMAGE --masters IP[,IP] [--nodes IP,...] (or -f Clusterfile)');
      spec = { name: flags.cluster, image, ssh: {}, hosts: flagHosts(flags), env: parseEnv(flags.env, '--env') };
    }
    if (flags.registryHa) spec.registryHA = true;
    checkClusterName(spec.name);
    checkHosts(spec.hosts, flags.file ?? '--masters');
    const store = await openStore(command);
    const target = await resolveVerified(store, spec.image, flags.verifyKey);
    // Flags win over the Clusterfile's spec.ssh.
    const state = await runCluster(store, { ...spec, ssh: { ...spec.ssh, ...flagSsh } }, target, access(flags, { ...spec.ssh, ...flagSsh }));
    printHosts(state);
  });
}

export function addCommand(): Command {
  return withAccessFlags(new Command('add').description('join more hosts to an installed cluster').option('--masters <ips>', 'control-plane hosts to add').option('--nodes <ips>', 'worker hosts to add')).action(
    async (flags: AccessFlags & { masters?: string; nodes?: string }, command: Command) => {
      const hosts = flagHosts(flags);
      if (hosts.length === 0) throw new UsageError('add needs hosts', 'sealbuild add --nodes IP[,IP] (or --masters)');
      printHosts(await addHosts(await openStore(command), checkClusterName(flags.cluster), hosts, access(flags)));
    },
  );
}

export function deleteCommand(): Command {
  return withAccessFlags(new Command('delete').description('drain hosts, remove them from the cluster and clean them').option('--masters <ips>', 'control-plane hosts to remove').option('--nodes <ips>', 'worker hosts to remove')).action(
    async (flags: AccessFlags & { masters?: string; nodes?: string }, command: Command) => {
      const hosts = flagHosts(flags);
      if (hosts.length === 0) throw new UsageError('delete needs hosts', 'sealbuild delete --nodes IP[,IP] (or --masters)');
      printHosts(await deleteHosts(await openStore(command), checkClusterName(flags.cluster), hosts.map((h) => h.ip), access(flags)));
    },
  );
}

export function upgradeCommand(): Command {
  return withAccessFlags(
    new Command('upgrade')
      .description("move a cluster to another image of its runtime: masters one at a time, then workers")
      .argument('<image>', 'the new ClusterImage (in the store)')
      .option('--verify-key <file>', VERIFY_KEY_HELP),
  ).action(async (image: string, flags: AccessFlags & { verifyKey?: string }, command: Command) => {
    const name = checkClusterName(flags.cluster);
    const store = await openStore(command);
    const target = await resolveVerified(store, image, flags.verifyKey);
    printHosts(await upgradeCluster(store, name, image, target, access(flags)));
  });
}

export function resetCommand(): Command {
  return withAccessFlags(new Command('reset').description("clean every host of a cluster (the image's clean.sh and what delivery put there) and forget it")).action(async (flags: AccessFlags, command: Command) => {
    await resetCluster(await openStore(command), checkClusterName(flags.cluster), access(flags));
  });
}

export function statusCommand(): Command {
  return new Command('status')
    .description('what is installed where: the cluster\'s image and hosts')
    .option('--cluster <name>', 'which cluster', 'default')
    .option('--json', 'print the recorded state as JSON (without the join secrets)')
    .action(async (flags: { cluster: string; json?: boolean }, command: Command) => {
      const store = await openStore(command);
      const state = await readClusterState(store.root, checkClusterName(flags.cluster));
      if (!state) throw new UsageError(`there is no cluster "${flags.cluster}" in ${store.root}`, '`sealbuild run IMAGE --masters ...` installs one');
      if (flags.json) {
        const { token: _t, join: _j, ...shown } = state;
        printJson(shown);
        return;
      }
      process.stdout.write(`cluster ${state.name}: ${state.runtime} from ${state.image} (${state.target.digest})\n`);
      printHosts(state);
    });
}

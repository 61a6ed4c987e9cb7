#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { UserError } from '../util/errors.js';
import { PROGRESS_MODES } from '../util/reporter.js';
import { VERSION } from '../version.js';
import { COMMAND_NAMES, type CommandName } from './command-names.js';
import { COMMANDS, commandOf, leadingWord } from './commands.js';
import { addHelpExamples } from './help-examples.js';
import { parseBool, parseSeconds } from './option-values.js';
import { commanderErrorLine, rejectMistypedCommand } from './suggest.js';

/** The program with its own options, without commands. */
function program(): Command {
  return new Command('sealbuild')
    .description('Build, store and ship Kubernetes ClusterImages from Kubefiles.\n`sealbuild -t REF CONTEXT` is `sealbuild build -t REF CONTEXT`.')
    .version(VERSION)
    .option('--root <dir>', 'where images are stored (default: $SEALBUILD_ROOT, /var/lib/sealbuild as root, else ~/.local/share/sealbuild)')
    .addOption(new Option('--progress <mode>', 'progress output on stderr').choices(PROGRESS_MODES).default('auto'))
    .option('--debug', 'show stack traces for unexpected errors, and when a build reuses the last one')
    .option('--tls-verify [bool]', 'verify registry TLS certificates (--tls-verify=false to skip)', parseBool('--tls-verify'), true)
    .option('--cert-dir <dir>', 'extra CA certificates (*.crt) and client certificates (*.cert, *.key) for registries')
    .option('--allow-expansion', 'unpack layers that expand more than 100:1 past 1 GiB (refused as decompression bombs by default)')
    .option('--timeout <seconds>', 'registry requests: how long a connection or an answer may take, and a download may go without data (default: 30)', parseSeconds('--timeout'))
    .exitOverride();
}

/** Adds the commands `names` (loading a command loads what it uses). */
async function addCommands(root: Command, names: readonly CommandName[]): Promise<void> {
  for (const command of await Promise.all(names.map((name) => COMMANDS[name]()))) root.addCommand(command, { isDefault: command.name() === 'build' });
  // Loaded only when asked for: the layer reader is not start-up's business.
  root.hook('preAction', async (_root, action) => {
    if (action.optsWithGlobals<{ allowExpansion?: boolean }>().allowExpansion === true) (await import('../layer/layer-reader.js')).allowExpansion(true);
  });
  oneLineErrors(root, 'sealbuild');
  addHelpExamples(root);
}

/** commander's own errors (unknown option, missing argument) in our one-line format, for every command and subcommand. */
function oneLineErrors(command: Command, path: string): void {
  command.exitOverride().configureOutput({ outputError: (text, write) => write(commanderErrorLine(text, path)) });
  for (const sub of command.commands) oneLineErrors(sub, `${path} ${sub.name()}`);
}

function fail(message: string, hint: string | undefined, code: number): never {
  process.stderr.write(`Error: ${message}${hint ? ` (hint: ${hint})` : ''}\n`);
  process.exit(code);
}

/**
 * A reader that stops early (`sealbuild inspect REF | head -3`) closes the pipe: stdout has
 * nobody left to tell, so the command ends quietly with 0, as git does. A closed stderr only
 * loses progress lines, so the command goes on (a build stopped halfway would be a lie).
 */
function endQuietlyOnClosedPipes(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

async function main(argv: string[]): Promise<void> {
  endQuietlyOnClosedPipes();
  const debug = argv.includes('--debug');
  try {
    // Only the command that runs is loaded.
    const cli = program();
    const command = commandOf(argv.slice(2), cli.options);
    const lead = leadingWord(argv.slice(2), cli.options);
    if (lead.kind === 'word') await rejectMistypedCommand(lead.word, lead.rest);
    // --version needs no command; help without a command lists them all.
    const versionOnly = command === undefined && argv.slice(2).some((a) => a === '-V' || a === '--version');
    await addCommands(cli, command !== undefined ? [command] : versionOnly ? [] : COMMAND_NAMES);
    if (argv.length <= 2) {
      cli.outputHelp();
      process.exit(2);
    }
    await cli.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not failures; commander already printed its message.
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    if (err instanceof UserError) {
      if (debug) process.stderr.write(`${err.stack}\n`);
      fail(err.message, err.hint, err.exitCode);
    }
    if (debug) process.stderr.write(`${(err as Error).stack}\n`);
    fail((err as Error).message ?? String(err), 'this looks like a bug in sealbuild; rerun with --debug and report it', 1);
  }
}

void main(process.argv);

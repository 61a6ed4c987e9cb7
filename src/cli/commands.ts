import type { Command } from 'commander';
import { isCommandName, type CommandName } from './command-names.js';

/**
 * Every command by name, each loaded only when it runs: `sealbuild images` reads no build
 * machinery, `sealbuild --version` no command at all (start-up time, #16). A command module
 * exporting several commands is listed once per name. Add a command here and in command-names.ts.
 */
export const COMMANDS: Record<CommandName, () => Promise<Command>> = {
  build: async () => (await import('./build.js')).buildCommand(),
  images: async () => (await import('./images.js')).imagesCommand(),
  inspect: async () => (await import('./inspect.js')).inspectCommand(),
  pull: async () => (await import('./pull.js')).pullCommand(),
  push: async () => (await import('./push.js')).pushCommand(),
  save: async () => (await import('./save.js')).saveCommand(),
  load: async () => (await import('./load.js')).loadCommand(),
  manifest: async () => (await import('./manifest.js')).manifestCommand(),
  export: async () => (await import('./export.js')).exportCommand(),
  tag: async () => (await import('./tag.js')).tagCommand(),
  rmi: async () => (await import('./tag.js')).rmiCommand(),
  prune: async () => (await import('./prune.js')).pruneCommand(),
  login: async () => (await import('./login.js')).loginCommand(),
  logout: async () => (await import('./login.js')).logoutCommand(),
  sign: async () => (await import('./sign.js')).signCommand(),
  key: async () => (await import('./sign.js')).keyCommand(),
  sbom: async () => (await import('./sbom.js')).sbomCommand(),
  init: async () => (await import('./init.js')).initCommand(),
  verify: async () => (await import('./verify.js')).verifyCommand(),
  run: async () => (await import('./cluster.js')).runCommand(),
  add: async () => (await import('./cluster.js')).addCommand(),
  delete: async () => (await import('./cluster.js')).deleteCommand(),
  upgrade: async () => (await import('./cluster.js')).upgradeCommand(),
  reset: async () => (await import('./cluster.js')).resetCommand(),
  status: async () => (await import('./cluster.js')).statusCommand(),
  completion: async () => (await import('./completion.js')).completionCommand(),
};

/** What commandOf needs to know of an option of the program itself. */
export interface GlobalOption {
  long?: string | undefined;
  short?: string | undefined;
  /** Takes the next word as its value (`--root DIR`). */
  required: boolean;
}

/**
 * The first word of `argv` after the program's own options (and help), with what follows it;
 * `other` when another option or `--` comes first.
 */
export type LeadingWord = { kind: 'word'; word: string; rest: string[] } | { kind: 'other' } | { kind: 'none' };

export function leadingWord(argv: string[], globals: readonly GlobalOption[]): LeadingWord {
  const find = (flag: string) => globals.find((o) => o.long === flag || o.short === flag);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { kind: 'other' };
    if (arg.startsWith('-')) {
      const [flag, value] = arg.split('=', 2) as [string, string | undefined];
      const option = find(flag);
      if (option === undefined && flag !== '-h' && flag !== '--help') return { kind: 'other' };
      if (option?.required && value === undefined) i++;
      continue;
    }
    return { kind: 'word', word: arg, rest: argv.slice(i + 1) };
  }
  return { kind: 'none' };
}

/**
 * The command `argv` (without node and script) runs: its leading word. `build` when that word
 * is not a command name, or when an option of another kind comes first (the bare form,
 * `sealbuild -t REF CONTEXT`); undefined when every command is needed: no word at all (help,
 * version) or `help [COMMAND]`.
 */
export function commandOf(argv: string[], globals: readonly GlobalOption[]): CommandName | undefined {
  const lead = leadingWord(argv, globals);
  if (lead.kind === 'none') return undefined;
  if (lead.kind === 'other') return 'build';
  if (lead.word === 'help') return undefined;
  return isCommandName(lead.word) ? lead.word : 'build';
}

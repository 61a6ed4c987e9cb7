import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { COMMAND_NAMES } from '../../src/cli/command-names.js';
import { COMMANDS, leadingWord } from '../../src/cli/commands.js';
import { commandSpecs } from '../../src/cli/completion.js';
import { HELP_EXAMPLES, commandPath } from '../../src/cli/help-examples.js';
import { commanderErrorLine } from '../../src/cli/suggest.js';

async function everyCommand(): Promise<Command> {
  const root = new Command('sealbuild').option('--root <dir>', 'the store');
  for (const name of COMMAND_NAMES) root.addCommand(await COMMANDS[name]());
  return root;
}

function paths(command: Command): string[] {
  return [commandPath(command), ...command.commands.flatMap(paths)];
}

test('every command and subcommand has help examples, and every example names a command', async () => {
  const all = paths(await everyCommand());
  assert.ok(all.includes('manifest create') && all.includes('key generate'), all.join(','));
  assert.deepEqual(all.filter((path) => HELP_EXAMPLES[path] === undefined), [], 'commands without examples in src/cli/help-examples.ts');
  assert.deepEqual(Object.keys(HELP_EXAMPLES).filter((path) => !all.includes(path)), [], 'examples of commands that do not exist');
  for (const [path, lines] of Object.entries(HELP_EXAMPLES)) {
    // build is also the bare form (`sealbuild -t REF CONTEXT`).
    for (const line of lines) assert.match(line, path === '' || path === 'build' ? /\bsealbuild / : new RegExp(`\\bsealbuild (--\\S+ \\S+ )?${path}( |$)`), path);
  }
});

test("commander's two-line errors become one line with the suggestion as the hint", () => {
  assert.equal(commanderErrorLine("error: unknown option '--tagg'\n(Did you mean --tag?)", 'sealbuild build'), "Error: unknown option '--tagg' (hint: did you mean --tag? see sealbuild build --help)\n");
  assert.equal(commanderErrorLine("error: missing required argument 'ref'", 'sealbuild inspect'), "Error: missing required argument 'ref' (hint: see sealbuild inspect --help)\n");
});

test('leadingWord: the first word after the program options, and what follows it', () => {
  const globals = [{ long: '--root', required: true }];
  assert.deepEqual(leadingWord(['--root', '/r', 'imags', '--json'], globals), { kind: 'word', word: 'imags', rest: ['--json'] });
  assert.deepEqual(leadingWord(['-t', 'x', 'ctx'], globals), { kind: 'other' });
  assert.deepEqual(leadingWord(['--root=/r'], globals), { kind: 'none' });
});

test('completion specs come from the command definitions: flags with their value kinds, arguments', async () => {
  const specs = commandSpecs(await everyCommand());
  const build = specs.find((s) => s.path === 'build')!;
  const flag = (name: string) => build.flags.find((f) => f.names.includes(name));
  assert.deepEqual(flag('--compression')?.value, { choices: ['gzip', 'zstd', 'none'] });
  assert.equal(flag('-t')?.value, 'image');
  assert.equal(flag('--build-arg')?.value, 'none');
  assert.equal(flag('--file')?.value, 'file');
  assert.equal(flag('--platform')?.value, 'platform');
  assert.equal(flag('--dry-run')?.value, undefined);
  // The program's options are taken after the command too.
  assert.equal(flag('--root')?.value, 'dir');
  assert.deepEqual(build.args, ['dir']);
  const save = specs.find((s) => s.path === 'save')!;
  assert.deepEqual([save.args, save.variadic], [['image'], true]);
  assert.deepEqual(specs.find((s) => s.path === 'manifest')!.subcommands, ['create', 'add', 'inspect', 'push']);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandOf } from '../../src/cli/commands.js';

const globals = [
  { long: '--root', required: true },
  { long: '--progress', required: true },
  { long: '--debug', required: false },
  { long: '--tls-verify', required: false },
  { long: '--version', short: '-V', required: false },
];

test('commandOf loads only the command that runs, skipping the program\'s own options', () => {
  const cases: [string[], string | undefined][] = [
    [['images'], 'images'],
    [['--root', '/tmp/images', 'inspect', 'x'], 'inspect'],
    [['--root=/r', '--progress', 'json', '--debug', 'save', 'a', '-o', 'b'], 'save'],
    [['--tls-verify=false', 'pull', 'x'], 'pull'],
    // The bare form: build options first, or a context that is not a command name.
    [['-t', 'images', 'ctx'], 'build'],
    [['--root', '/r', 'examples/hello'], 'build'],
    [['imags'], 'build'],
    [['--', 'images'], 'build'],
    // Every command: help lists them, version needs none but costs nothing more.
    [[], undefined],
    [['--help'], undefined],
    [['-V'], undefined],
    [['help', 'save'], undefined],
  ];
  for (const [argv, expected] of cases) assert.equal(commandOf(argv, globals), expected, argv.join(' '));
});

import { stat } from 'node:fs/promises';
import { closest } from '../kubefile/suggest.js';
import { UsageError } from '../util/errors.js';
import { COMMAND_NAMES, isCommandName } from './command-names.js';

/**
 * commander's own error (unknown option or command, missing argument) as one line: its
 * "(Did you mean --tag?)" line becomes the hint, with where to read more.
 */
export function commanderErrorLine(text: string, helpPath: string): string {
  const message = text.replace(/^error: /, '').trim();
  const suggestion = /\n?\(Did you mean (.+?)\?\)\s*$/.exec(message);
  const what = suggestion ? message.slice(0, suggestion.index).trim() : message;
  return `Error: ${what} (hint: ${suggestion ? `did you mean ${suggestion[1]}? ` : ''}see ${helpPath} --help)\n`;
}

/**
 * A first word that is no command is the default command's build context. When it is no path
 * either: near a command's name (`sealbuild imags --json`) it was a mistyped command; alone
 * with no `/` (`sealbuild frobnicate`) it is as likely a command as a directory.
 */
export async function rejectMistypedCommand(word: string, rest: string[]): Promise<void> {
  if (isCommandName(word) || word === 'help') return;
  if (await stat(word).then(() => true, () => false)) return;
  const guess = closest(word, COMMAND_NAMES, 2);
  if (guess !== undefined) throw new UsageError(`unknown command "${word}"`, `did you mean ${guess}?`);
  if (rest.length === 0 && !word.includes('/')) {
    throw new UsageError(`unknown command or directory "${word}"`, '`sealbuild --help` lists the commands; to build, pass the directory that holds the Kubefile');
  }
}

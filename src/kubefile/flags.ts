import { KubefileError, type SourcePosition } from '../util/errors.js';
import { usage, type InstructionKind, type Word } from './instructions.js';
import { readWord, skipBlanks, type LogicalLine, type Token } from './lexer.js';

/** The flags each instruction accepts, by their names in the instruction types. */
const ALLOWED_FLAGS: Partial<Record<InstructionKind, readonly string[]>> = {
  FROM: ['platform'],
  COPY: ['chmod', 'chown', 'from'],
  ADD: ['chmod', 'chown', 'checksum'],
};

/** Leading `--name=value` words (docker reads flags before any instruction's arguments). */
export function readFlags(kind: InstructionKind, line: LogicalLine, from: number, escape: string): { flags: Map<string, Token>; next: number } {
  const flags = new Map<string, Token>();
  let at = skipBlanks(line.text, from);
  while (line.text.startsWith('--', at)) {
    const token = readWord(line, at, line.text.length, escape, true);
    at = skipBlanks(line.text, token.end);
    // A bare `--` ends the flags, as in docker.
    if (token.word === '--') break;
    const [name, value] = flag(kind, token);
    if (flags.has(name)) throw new KubefileError(token.pos, `flag --${name} is given twice`, usage(kind));
    flags.set(name, { ...token, word: value });
  }
  return { flags, next: at };
}

function flag(kind: InstructionKind, token: Token): [string, Word] {
  const eq = token.word.indexOf('=');
  const name = token.word.slice(2, eq < 0 ? undefined : eq);
  const allowed = ALLOWED_FLAGS[kind] ?? [];
  if (!allowed.includes(name)) {
    const accepted = allowed.length === 0 ? 'no flags' : allowed.map((a) => `--${a}`).join(', ');
    throw new KubefileError(token.pos, `unknown flag --${name} for ${kind}`, `${kind} accepts ${accepted}`);
  }
  const value = eq < 0 ? '' : token.word.slice(eq + 1);
  if (value === '') throw new KubefileError(token.pos, `flag --${name} needs a value`, `write --${name}=<value>`);
  checkFlagValue(name, value, token.pos);
  return [name, value];
}

function checkFlagValue(name: string, value: string, pos: SourcePosition): void {
  if (name === 'chmod' && !/^[0-7]{3,4}$/.test(value)) {
    throw new KubefileError(pos, `invalid --chmod value "${value}"`, 'use an octal mode of 3 or 4 digits, such as 755 or 0644');
  }
  // A value with `$` is checked once expanded, at build time (as BuildKit does).
  if (name === 'checksum' && !value.includes('$') && !/^sha256:[0-9a-f]{64}$/.test(value)) {
    throw new KubefileError(pos, `invalid --checksum value "${value}"`, 'use sha256:<64 lowercase hex digits>');
  }
}


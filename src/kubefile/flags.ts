import { KubefileError, type SourcePosition } from '../util/errors.js';
import { usage, type InstructionKind } from './instructions.js';
import { readWord, skipBlanks, type LogicalLine, type Token } from './lexer.js';

/** The flags each instruction accepts. */
const ALLOWED_FLAGS = {
  FROM: ['platform'],
  COPY: ['chmod', 'chown', 'from'],
  ADD: ['chmod', 'chown', 'checksum'],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
} as const satisfies Partial<Record<InstructionKind, readonly string[]>>;

type FlaggedKind = keyof typeof ALLOWED_FLAGS;
/** The names of the flags `K` accepts. */
export type FlagName<K extends FlaggedKind> = (typeof ALLOWED_FLAGS)[K][number];

/**
 * The flags an instruction of kind `K` was given, by name (readFlags checked the names):
 * reading a flag `K` does not accept is a compile error, not an always-missing flag.
 */
export function flagsOf<K extends FlaggedKind>(kind: K, flags: ReadonlyMap<string, Token>): { [N in FlagName<K>]?: Token } {
  const out: { [N in FlagName<K>]?: Token } = {};
  for (const name of ALLOWED_FLAGS[kind] as readonly FlagName<K>[]) {
    const token = flags.get(name);
    if (token !== undefined) out[name] = token;
  }
  return out;
}

export const HEALTHCHECK_DURATIONS = ['interval', 'timeout', 'start-period', 'start-interval'] as const satisfies readonly FlagName<'HEALTHCHECK'>[];
const GO_DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`1m30s`, `500ms`, `0`) in nanoseconds; docker refuses non-zero values under 1ms. */
export function goDuration(value: string, pos: SourcePosition, what: string): number {
  const bad = (why: string) => new KubefileError(pos, `invalid ${what} value "${value}": ${why}`, 'use a duration such as 30s, 1m30s or 500ms');
  if (value === '0') return 0;
  if (!/^(\d+(\.\d*)?(ns|us|µs|ms|s|m|h))+$/.test(value)) throw bad('not a duration');
  let total = 0;
  for (const [, number, , unit] of value.matchAll(/(\d+(\.\d*)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(number) * GO_DURATION_UNITS[unit!]!;
  if (total !== 0 && total < 1e6) throw bad('less than 1ms');
  return Math.round(total);
}

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

function flag(kind: InstructionKind, token: Token): [string, string] {
  const eq = token.word.indexOf('=');
  const name = token.word.slice(2, eq < 0 ? undefined : eq);
  const allowed: readonly string[] = (ALLOWED_FLAGS as Partial<Record<InstructionKind, readonly string[]>>)[kind] ?? [];
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
  if ((HEALTHCHECK_DURATIONS as readonly string[]).includes(name)) goDuration(value, pos, `--${name}`);
  if (name === 'retries' && !/^\d+$/.test(value)) throw new KubefileError(pos, `invalid --retries value "${value}"`, 'use a whole number, such as 3');
  // A value with `$` is checked once expanded, at build time (as BuildKit does).
  if (name === 'checksum' && !value.includes('$') && !/^sha256:[0-9a-f]{64}$/.test(value)) {
    throw new KubefileError(pos, `invalid --checksum value "${value}"`, 'use sha256:<64 lowercase hex digits>');
  }
}


import { KubefileError, type SourcePosition } from '../util/errors.js';
import { SUPPORTED_INSTRUCTIONS, asWord, usage, type InstructionKind, type Word } from './instructions.js';
import { closest } from './suggest.js';
import { jsonArrayAt, restWord as restWordAt, skipBlanks, words as wordsAt, type LogicalLine, type SourceText, type Token } from './lexer.js';

/*
 * What an instruction's parser reads its arguments with: the instruction's logical line, its
 * flags, and helpers that point errors at the right column.
 */

export interface FileContext extends SourceText {
  /** FROM ... AS names seen so far, to reject duplicates. */
  stageNames: Set<string>;
}

/** A string of a JSON array (exec form), decoded. */
export interface Element {
  value: string;
  pos: SourcePosition;
}

export interface Ctx {
  kind: InstructionKind;
  file: FileContext;
  base: { pos: SourcePosition; text: string };
  line: LogicalLine;
  /** Flag values by name (without `--`), positioned at their flag: read them with flagsOf. */
  flags: ReadonlyMap<string, Token>;
  /** Offset in line.text where the arguments after the flags start. */
  args: number;
}

/** The blank-separated words from `from` (the arguments by default) to the end of the line. */
export function words(ctx: Ctx, from = ctx.args): Token[] {
  return wordsAt(ctx.line, from, ctx.file.escape);
}

/** The rest of the line from `from` as one Word (blanks inside kept), if there is any. */
export function restWord(ctx: Ctx, from: number): Token | undefined {
  return restWordAt(ctx.line, from, ctx.file.escape);
}

/** Where `offset` of the line is, or the keyword if the line has ended there. */
export function positionAt(ctx: Ctx, offset: number): SourcePosition {
  return ctx.line.at[offset] ?? ctx.base.pos;
}

export function fail(pos: SourcePosition, message: string, ctx: Ctx): KubefileError {
  return new KubefileError(pos, message, usage(ctx.kind));
}

/** The arguments as raw text for a shell (RUN, CMD, CMDS), or throws if there are none. */
export function command(ctx: Ctx): string {
  const text = ctx.line.text.slice(ctx.args).trim();
  if (text === '') throw fail(ctx.base.pos, `${ctx.kind} needs a command`, ctx);
  return text;
}

/**
 * The exec (JSON array) form at `from`, or undefined when the text there is not JSON, in
 * which case docker reads the shell form instead. JSON that is not all strings is an error.
 */
export function execForm(ctx: Ctx, from = ctx.args): Element[] | undefined {
  const json = jsonArrayAt(ctx.line, from);
  if (json === undefined) return undefined;
  if (json.elements === undefined) throw fail(positionAt(ctx, json.start), `${ctx.kind} JSON array must hold only strings`, ctx);
  return json.elements.map((e) => ({ value: e.value, pos: positionAt(ctx, e.offset) }));
}

/** The exec form where sealer accepts nothing else, with at least one `what`. */
export function requiredExecForm(ctx: Ctx, from: number, what: string): Element[] {
  const pos = positionAt(ctx, skipBlanks(ctx.line.text, from));
  const elements = execForm(ctx, from);
  if (elements === undefined) throw fail(pos, `${ctx.kind} needs a JSON array of ${what}s`, ctx);
  if (elements.length === 0) throw fail(pos, `${ctx.kind} needs at least one ${what}`, ctx);
  return elements;
}

/** `props` without the undefined ones, so that a parsed instruction holds only what was written. */
export function given<T extends object>(props: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(props).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** A JSON element as a Word: double-quoted so expansion gives it back with only `$` expanded. */
export function requote(value: string): Word {
  return asWord(`"${value.replace(/["\\]/g, '\\$&')}"`);
}


const INSTRUCTION_SET_HINT = `a Kubefile supports: ${SUPPORTED_INSTRUCTIONS.join(', ')}`;

function isSupported(keyword: string): keyword is InstructionKind {
  return (SUPPORTED_INSTRUCTIONS as readonly string[]).includes(keyword);
}

export function kindOf(written: string, pos: SourcePosition): InstructionKind {
  const keyword = written.toUpperCase();
  if (isSupported(keyword)) return keyword;
  const suggestion = closest(keyword, SUPPORTED_INSTRUCTIONS, 2);
  throw new KubefileError(pos, `unknown instruction "${written}"`, suggestion === undefined ? INSTRUCTION_SET_HINT : `did you mean ${suggestion}?`);
}


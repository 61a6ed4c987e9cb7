import type { Instruction as AstInstruction } from 'dockerfile-ast';
import { KubefileError, type SourcePosition } from '../util/errors.js';

/*
 * The lexer: an instruction's lines to words, docker's way. dockerfile-ast finds where each
 * instruction starts and ends; its own argument splitting ignores quotes and drops escape
 * characters, and a Word must keep both for expandWord to give docker's result. What the
 * words mean, and which are allowed where, is parse.ts's business.
 */

/** What the lexer needs of the file: its name, its lines, its escape character. */
export interface SourceText {
  file: string;
  lines: string[];
  escape: string;
}

/** One instruction with its continuation lines joined, and where each character came from. */
export interface LogicalLine {
  text: string;
  at: SourcePosition[];
}

/** A shell word of a logical line, up to (not including) offset `end`. */
export interface Token {
  /** As written (the parser makes it a Word where the instruction keeps it). */
  word: string;
  pos: SourcePosition;
  end: number;
}

/** A string of a JSON array (exec form), decoded, at `offset` of its logical line. */
export interface JsonElement {
  value: string;
  offset: number;
}

/**
 * Joins the instruction's lines as docker does: a line ending in the escape character (then
 * blanks) continues on the next one, and blank or comment lines inside are dropped.
 */
export function logicalLine(node: AstInstruction, file: SourceText, pos: SourcePosition): LogicalLine {
  const first = node.getInstructionRange().start;
  const last = node.getRange().end.line;
  const continuation = file.escape === '`' ? /`[ \t]*$/ : /\\[ \t]*$/;
  const joined: LogicalLine = { text: '', at: [] };
  let index = first.line;
  for (let col = first.character; index <= last; index++, col = 0) {
    const text = file.lines[index] ?? '';
    if (index > first.line && /^\s*(#|$)/.test(text)) continue;
    const more = continuation.exec(text);
    for (let c = col; c < (more?.index ?? text.length); c++) {
      joined.text += text[c];
      joined.at.push({ file: file.file, line: index + 1, col: c + 1 });
    }
    if (more === null) break;
  }
  // dockerfile-ast counts a heredoc body as part of the instruction; sealer has no heredocs.
  if (index < last) {
    throw new KubefileError(pos, 'heredocs (<<EOF) are not supported in a Kubefile', `put the script in a file and COPY it, or continue the lines with ${file.escape}`);
  }
  return joined;
}

export function skipBlanks(text: string, from: number): number {
  let at = from;
  while (at < text.length && /\s/.test(text[at]!)) at++;
  return at;
}

/**
 * Reads the word at `start`, up to an unquoted blank if `stopAtBlank`, else up to `end`.
 * Quotes and escapes stay in the word, rewritten to backslash-escape syntax when the file uses
 * `# escape=\``, so that expandWord never needs to know the file's escape character.
 */
export function readWord(line: LogicalLine, start: number, end: number, escape: string, stopAtBlank: boolean): Token {
  let word = '';
  let quote: string | undefined;
  let quoteAt = start;
  let at = start;
  while (at < end) {
    const c = line.text[at]!;
    if (quote === undefined && stopAtBlank && /\s/.test(c)) break;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      word += c;
      at++;
    } else if (c === escape) {
      const [text, length] = escapeSequence(line.text.slice(at + 1, Math.min(at + 2, end)), quote, escape);
      word += text;
      at += length;
    } else if (c === '\\') {
      // Only reached under `# escape=\``, where a backslash is an ordinary character.
      word += '\\\\';
      at++;
    } else {
      if (quote === undefined && (c === '"' || c === "'")) [quote, quoteAt] = [c, at];
      else if (c === quote) quote = undefined;
      word += c;
      at++;
    }
  }
  if (quote !== undefined) {
    throw new KubefileError(line.at[quoteAt]!, `unterminated quote ${quote}`, `close it with ${quote}, or escape it with ${escape}${quote}`);
  }
  return { word, pos: line.at[start]!, end: at };
}

/**
 * The escape character followed by `next`, in backslash syntax, and how many characters it
 * used. Inside double quotes docker's escape only escapes `"`, `$` and itself.
 */
function escapeSequence(next: string, quote: string | undefined, escape: string): [string, number] {
  // Only at the very end of a line, which the continuation rule already took: drop it, as docker does.
  if (next === '') return ['', 1];
  if (escape === '\\') return [`\\${next}`, 2];
  if (quote === undefined || next === '"' || next === '$') return [`\\${next}`, 2];
  // A backtick inside double quotes: escaped itself it is one backtick, else it is literal.
  return ['`', next === '`' ? 2 : 1];
}

/** The blank-separated words of the line from `from` to its end. */
export function words(line: LogicalLine, from: number, escape: string): Token[] {
  const tokens: Token[] = [];
  for (let offset = skipBlanks(line.text, from); offset < line.text.length; offset = skipBlanks(line.text, offset)) {
    const token = readWord(line, offset, line.text.length, escape, true);
    tokens.push(token);
    offset = token.end;
  }
  return tokens;
}

/** The rest of the line from `from` as one Word (blanks inside kept), if there is any. */
export function restWord(line: LogicalLine, from: number, escape: string): Token | undefined {
  const start = skipBlanks(line.text, from);
  const end = line.text.trimEnd().length;
  return start < end ? readWord(line, start, end, escape, false) : undefined;
}

/**
 * The JSON array at `from` (exec form): undefined when the text there is not JSON, in which
 * case docker reads the shell form instead; `elements` undefined when it is JSON but not an
 * array of strings. `start` is where the JSON starts.
 */
export function jsonArrayAt(line: LogicalLine, from: number): { start: number; elements: JsonElement[] | undefined } | undefined {
  const start = skipBlanks(line.text, from);
  const source = line.text.slice(start).trimEnd();
  const parsed = source.startsWith('[') ? parseJson(source) : undefined;
  if (parsed === undefined) return undefined;
  if (!Array.isArray(parsed) || !parsed.every((e): e is string => typeof e === 'string')) return { start, elements: undefined };
  return { start, elements: elementOffsets(source).map((offset, i) => ({ value: parsed[i]!, offset: start + offset })) };
}

/** The JSON value, or undefined if `source` is not JSON. */
function parseJson(source: string): unknown {
  try {
    return JSON.parse(source) as unknown;
  } catch {
    return undefined;
  }
}

/** Offsets of each string's opening quote in a valid JSON array of strings. */
function elementOffsets(json: string): number[] {
  const offsets: number[] = [];
  for (let i = 1; i < json.length; i++) {
    if (json[i] !== '"') continue;
    offsets.push(i);
    for (i++; json[i] !== '"'; i++) if (json[i] === '\\') i++;
  }
  return offsets;
}

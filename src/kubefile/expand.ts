import { KubefileError, type SourcePosition } from '../util/errors.js';
import type { Word } from './instructions.js';

/** The value of a variable in scope, or undefined when it is not set at all. */
export type Lookup = (name: string) => string | undefined;

/**
 * A Word's value, computed the way docker's shell lexer does for ENV/COPY/LABEL/... words:
 * quotes are removed ('...' is literal, "..." still expands `$`), a backslash escapes the next
 * character, and `$X`, `${X}`, `${X:-default}`, `${X-default}`, `${X:+alternative}` and
 * `${X+alternative}` are expanded (the default/alternative may itself hold quotes and `$`).
 * An unset variable expands to ''. A name may be built from substitutions (`${SHA_${ARCH}}`).
 * Words always use backslash escapes: the parser rewrites
 * words of a `# escape=\`` Kubefile into that syntax.
 */
export function expandWord(word: Word, lookup: Lookup, position: SourcePosition): string {
  return new WordExpander(word, lookup, position).expand();
}

/** expandWord over a list, e.g. COPY's sources. */
export function expandWords(words: readonly Word[], lookup: Lookup, position: SourcePosition): string[] {
  return words.map((word) => expandWord(word, lookup, position));
}

const SUBSTITUTION_FORMS = '${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:+alternative} or ${NAME+alternative}';

/** Letters/digits/_ not starting with a digit, or only digits (positional parameters, always unset). */
const NAME = /[\p{L}_][\p{L}\p{Nd}_]*|\p{Nd}+/uy;

class WordExpander {
  private at = 0;

  constructor(
    private readonly word: Word,
    private readonly lookup: Lookup,
    private readonly position: SourcePosition,
  ) {}

  expand(): string {
    return this.unquoted(undefined);
  }

  /** Unquoted text up to the end of the word, or up to `stop` (the `}` closing a `${...}`). */
  private unquoted(stop: '}' | undefined): string {
    let out = '';
    while (this.at < this.word.length) {
      const c = this.word[this.at]!;
      if (c === stop) return out;
      if (c === "'") out += this.singleQuoted();
      else if (c === '"') out += this.doubleQuoted();
      else if (c === '$') out += this.dollar();
      else if (c === '\\') out += this.escaped();
      else {
        out += c;
        this.at++;
      }
    }
    if (stop !== undefined) throw this.error('missing "}"', `close the substitution: ${SUBSTITUTION_FORMS}`);
    return out;
  }

  /** An unquoted backslash gives the next character literally; a trailing one is dropped, as in docker. */
  private escaped(): string {
    const next = this.word[this.at + 1] ?? '';
    this.at += 2;
    return next;
  }

  /** '...': every character literal, no escapes (a ' cannot appear inside). */
  private singleQuoted(): string {
    const close = this.word.indexOf("'", this.at + 1);
    if (close < 0) throw this.error('unterminated single quote', "close it with '");
    const out = this.word.slice(this.at + 1, close);
    this.at = close + 1;
    return out;
  }

  /** "...": `$` expands; a backslash escapes only `"`, `$` and itself, and stays literal elsewhere. */
  private doubleQuoted(): string {
    let out = '';
    this.at++;
    while (this.at < this.word.length) {
      const c = this.word[this.at]!;
      if (c === '"') {
        this.at++;
        return out;
      }
      if (c === '$') {
        out += this.dollar();
        continue;
      }
      const next = this.word[this.at + 1];
      const escapes = c === '\\' && (next === '"' || next === '$' || next === '\\');
      out += escapes ? next : c;
      this.at += escapes ? 2 : 1;
    }
    throw this.error('unterminated double quote', 'close it with "');
  }

  private dollar(): string {
    this.at++;
    if (this.word[this.at] !== '{') {
      const name = this.name();
      // A `$` not followed by a name is an ordinary character, as in sh.
      return name === '' ? '$' : (this.lookup(name) ?? '');
    }
    this.at++;
    return this.braced();
  }

  /**
   * The part of `${...}` after the brace. The name may itself hold substitutions, a sealbuild
   * extension docker rejects: `${K3S_SHA256_${ARCH}}` reads the ARG for the platform being built.
   */
  private braced(): string {
    let name = this.name();
    while (this.word[this.at] === '$' && /[{\p{L}_]/u.test(this.word[this.at + 1] ?? '')) name += this.dollar() + this.name();
    if (name === '') {
      if (this.at >= this.word.length) throw this.error('missing "}"', `close the substitution: ${SUBSTITUTION_FORMS}`);
      throw this.error('bad substitution: a variable name must follow "${"', `write ${SUBSTITUTION_FORMS}`);
    }
    const value = this.lookup(name);
    const operator = this.word[this.at] === ':' ? this.word.slice(this.at, this.at + 2) : this.word[this.at];
    switch (operator) {
      case '}':
        this.at++;
        return value ?? '';
      case '-':
      case ':-':
      case '+':
      case ':+':
        return this.modified(operator, value);
      case undefined:
      case ':':
        throw this.error('missing "}"', `close the substitution: ${SUBSTITUTION_FORMS}`);
      default:
        throw this.error(`unsupported modifier "${operator}" in \${${name}...}`, `use ${SUBSTITUTION_FORMS}`);
    }
  }

  /** `${X-w}`/`${X+w}` test whether X is set; the `:` forms test whether it is set and non-empty. */
  private modified(operator: '-' | ':-' | '+' | ':+', value: string | undefined): string {
    this.at += operator.length;
    // The word is expanded even when unused, so a syntax error in it is never silently ignored.
    const word = this.unquoted('}');
    this.at++;
    const present = operator.startsWith(':') ? value !== undefined && value !== '' : value !== undefined;
    if (operator.endsWith('-')) return present ? value! : word;
    return present ? word : '';
  }

  private name(): string {
    NAME.lastIndex = this.at;
    const name = NAME.exec(this.word)?.[0] ?? '';
    this.at += name.length;
    return name;
  }

  private error(problem: string, hint: string): KubefileError {
    return new KubefileError(this.position, `${problem} in ${JSON.stringify(this.word)}`, hint);
  }
}

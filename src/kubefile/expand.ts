import { KubefileError, type SourcePosition } from '../util/errors.js';
import { writtenWord, type Word } from './instructions.js';
import { replacePattern, trimPrefix, trimSuffix } from './shell-pattern.js';

/** The value of a variable in scope, or undefined when it is not set at all. */
export type Lookup = (name: string) => string | undefined;

/**
 * A Word's value, computed the way BuildKit's shell lexer does for ENV/COPY/LABEL/... words
 * (frontend/dockerfile/shell/lex.go): quotes are removed ('...' is literal, "..." still
 * expands `$`), a backslash escapes the next character, and these are expanded:
 * `$X`, `${X}`; `${X:-w}`, `${X-w}`, `${X:+w}`, `${X+w}`, `${X:?w}`, `${X?w}` (w may itself
 * hold quotes and `$`); the pattern forms `${X#p}`, `${X##p}`, `${X%p}`, `${X%%p}`,
 * `${X/p/r}`, `${X//p/r}` (shell-pattern.ts); the positional and special parameters
 * (`$1`, `$@`, `$*`, `$#`, `$?`, `$-`, `$$`, `$!`, `$0`), which are never set. An unset
 * variable expands to ''. A name may be built from substitutions (`${SHA_${ARCH}}`, a
 * sealbuild extension). Words always use backslash escapes: the parser rewrites words of a
 * `# escape=\`` Kubefile into that syntax.
 */
export function expandWord(word: Word, lookup: Lookup, position: SourcePosition): string {
  return new WordExpander(writtenWord(word), lookup, position).expand();
}

const SUBSTITUTION_FORMS = '${NAME}, ${NAME:-default}, ${NAME:+alternative}, ${NAME:?message} (each also without ":"), ${NAME#pattern}, ${NAME%pattern} (## and %% for the longest match) or ${NAME/pattern/replacement} (// for every match)';

/** Letters/digits/_ not starting with a digit, or only digits (positional parameters, always unset). */
const NAME = /[\p{L}_][\p{L}\p{Nd}_]*|\p{Nd}+/uy;
/** The shell's special parameters: a name of one character, never set in a Kubefile. */
const SPECIAL = '@*#?-$!';

class WordExpander {
  private at = 0;

  constructor(
    /** The word as written. */
    private readonly word: string,
    private readonly lookup: Lookup,
    private readonly position: SourcePosition,
  ) {}

  expand(): string {
    return this.unquoted(undefined, false);
  }

  /**
   * Unquoted text up to the end of the word, or up to `stop` (the `}` closing a `${...}`, the
   * `/` after a pattern). With `raw`, escapes stay in the text (patterns read them).
   */
  private unquoted(stop: '}' | '/' | undefined, raw: boolean): string {
    let out = '';
    while (this.at < this.word.length) {
      const c = this.word[this.at]!;
      if (c === stop) return out;
      if (c === "'") out += this.singleQuoted();
      else if (c === '"') out += this.doubleQuoted();
      else if (c === '$') out += this.dollar();
      else if (c === '\\') out += this.escaped(raw);
      else {
        out += c;
        this.at++;
      }
    }
    if (stop === '/') throw this.error('missing "/" in ${...}', 'write ${NAME/pattern/replacement}');
    if (stop !== undefined) throw this.error('missing "}"', `close the substitution: ${SUBSTITUTION_FORMS}`);
    return out;
  }

  /** An unquoted backslash gives the next character literally (raw: with the backslash); a trailing one is dropped, as in docker. */
  private escaped(raw: boolean): string {
    const next = this.word[this.at + 1] ?? '';
    this.at += 2;
    return raw ? `\\${next}` : next;
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
    const first = this.word[this.at];
    if (first === undefined) throw this.error('missing "}"', `close the substitution: ${SUBSTITUTION_FORMS}`);
    if (first === '{' || first === '}' || first === ':') throw this.error('bad substitution: a variable name must follow "${"', `write ${SUBSTITUTION_FORMS}`);
    let name = this.name();
    if (!SPECIAL.includes(name)) {
      while (this.word[this.at] === '$' && /[{\p{L}_]/u.test(this.word[this.at + 1] ?? '')) name += this.dollar() + this.name();
    }
    if (name === '') throw this.error('bad substitution: a variable name must follow "${"', `write ${SUBSTITUTION_FORMS}`);
    const value = this.lookup(name);
    const operator = this.word[this.at];
    this.at++;
    switch (operator) {
      case '}':
        return value ?? '';
      case '-':
      case '+':
      case '?':
        return this.modified(name, operator, false, value);
      case ':': {
        const next = this.word[this.at];
        this.at++;
        if (next === '-' || next === '+' || next === '?') return this.modified(name, next, true, value);
        if (next === undefined) throw this.error('missing "}"', `close the substitution: ${SUBSTITUTION_FORMS}`);
        throw this.unsupported(name, `:${next}`);
      }
      case '#':
      case '%':
        return this.trimmed(operator, value);
      case '/':
        return this.replaced(value);
      case undefined:
        throw this.error('missing "}"', `close the substitution: ${SUBSTITUTION_FORMS}`);
      default:
        throw this.unsupported(name, operator);
    }
  }

  /**
   * `${X-w}`/`${X+w}`/`${X?w}` test whether X is set; the `:` forms whether it is set and
   * non-empty. `?` fails the build with w (or a default message) when the test fails.
   */
  private modified(name: string, operator: '-' | '+' | '?', nullIsUnset: boolean, value: string | undefined): string {
    // The word is expanded even when unused, so a syntax error in it is never silently ignored.
    const word = this.unquoted('}', false);
    this.at++;
    const present = value !== undefined && !(nullIsUnset && value === '');
    if (operator === '-') return present ? value! : word;
    if (operator === '+') return present ? word : '';
    if (!present) {
      const problem = value === undefined ? 'is not allowed to be unset' : 'is not allowed to be empty';
      throw new KubefileError(this.position, `${name}: ${word === '' ? problem : word}`, `set ${name} (ARG, --build-arg or ENV): \${${name}${nullIsUnset ? ':' : ''}?} requires it`);
    }
    return value;
  }

  /** `${X#p}` `${X##p}` `${X%p}` `${X%%p}`: the pattern keeps its escapes for the matcher. */
  private trimmed(operator: '#' | '%', value: string | undefined): string {
    let pattern = this.unquoted('}', true);
    this.at++;
    const greedy = pattern.startsWith(operator);
    if (greedy) pattern = pattern.slice(1);
    return this.matching(pattern, () => (operator === '#' ? trimPrefix : trimSuffix)(pattern, value ?? '', greedy));
  }

  /** `${X/p/r}` `${X//p/r}`. */
  private replaced(value: string | undefined): string {
    const all = this.word[this.at] === '/';
    if (all) this.at++;
    const pattern = this.unquoted('/', true);
    this.at++;
    const replacement = this.unquoted('}', true);
    this.at++;
    return this.matching(pattern, () => replacePattern(pattern, value ?? '', replacement, all));
  }

  private matching(pattern: string, match: () => string): string {
    try {
      return match();
    } catch (err) {
      throw this.error(`invalid pattern "${pattern}": ${(err as Error).message}`, 'in a pattern, \\ escapes only *, ? and \\');
    }
  }

  /** A name (letters, digits, `_`), all digits (positional), or one special parameter character. */
  private name(): string {
    NAME.lastIndex = this.at;
    let name = NAME.exec(this.word)?.[0] ?? '';
    if (name === '' && SPECIAL.includes(this.word[this.at] ?? '\0')) name = this.word[this.at]!;
    this.at += name.length;
    return name;
  }

  private unsupported(name: string, operator: string): KubefileError {
    return this.error(`unsupported modifier "${operator}" in \${${name}...}`, `use ${SUBSTITUTION_FORMS}`);
  }

  private error(problem: string, hint: string): KubefileError {
    return new KubefileError(this.position, `${problem} in ${JSON.stringify(this.word)}`, hint);
  }
}

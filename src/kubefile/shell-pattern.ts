/*
 * The pattern forms of `${...}` as BuildKit implements them (frontend/dockerfile/shell/lex.go:
 * convertShellPatternToRegex, trimPrefix, trimSuffix, reversePattern): `*` is any string
 * (shortest, or longest for ##, %% and /), `?` one character, `\` escapes `*`, `?` and itself,
 * and `\}` `\/` stand for `}` `/`. There are no bracket expressions.
 */

/** A shell pattern as a regular expression; throws an Error naming a bad escape. */
function patternRegex(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = [...pattern];
  let out = anchored ? '^' : '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') out += greedy ? '.*' : '.*?';
    else if (c === '?') out += '.';
    else if (c === '\\') {
      const next = chars[i + 1];
      // `\}` and `\/` only keep `}` and `/` from ending the substitution: the character stays.
      if (next === '}' || next === '/') continue;
      if (next !== '*' && next !== '?' && next !== '\\') throw new Error(`invalid escape "\\${next ?? ''}"`);
      out += `\\${next}`;
      i++;
    } else out += '[]{}.+()|^$'.includes(c) ? `\\${c}` : c;
  }
  return new RegExp(out, 'u');
}

/** `${V#p}` / `${V##p}`: the value without the shortest / longest prefix matching p. */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const match = patternRegex(pattern, greedy, true).exec(value);
  return match === null ? value : value.slice(match[0].length);
}

/**
 * `${V%p}` / `${V%%p}`: the value without the shortest / longest suffix matching p. As in
 * BuildKit, both are reversed so that the search is a leftmost one.
 */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverse(trimPrefix(reversePattern(pattern), reverse(value), greedy));
}

/** `${V/p/r}` / `${V//p/r}`: the first / every longest match of p replaced by r (taken literally). */
export function replacePattern(pattern: string, value: string, replacement: string, all: boolean): string {
  const re = patternRegex(pattern, true, false);
  if (!all) {
    const match = re.exec(value);
    return match === null ? value : value.slice(0, match.index) + replacement + value.slice(match.index + match[0].length);
  }
  // Go's ReplaceAll: an empty match right after the previous match is not replaced.
  const global = new RegExp(re.source, 'gu');
  let out = '';
  let last = 0;
  let previousEnd = -1;
  for (let match = global.exec(value); match !== null; match = global.exec(value)) {
    const end = match.index + match[0].length;
    if (match[0].length === 0) global.lastIndex = match.index + (value.codePointAt(match.index)! > 0xffff ? 2 : 1);
    if (match[0].length === 0 && match.index === previousEnd) continue;
    out += value.slice(last, match.index) + replacement;
    last = end;
    previousEnd = end;
    if (global.lastIndex > value.length) break;
  }
  return out + value.slice(last);
}

function reverse(text: string): string {
  return [...text].reverse().join('');
}

/** The pattern reversed, an escape staying in front of what it escapes (`a\*c` -> `c\*a`). */
function reversePattern(pattern: string): string {
  const chars = [...pattern];
  const out: string[] = [];
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] === '\\' && i !== chars.length - 1) {
      out.unshift('\\', chars[i + 1]!);
      i++;
    } else out.unshift(chars[i]!);
  }
  return out.join('');
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandWord, type Lookup } from '../../src/kubefile/expand.js';
import { asWord } from '../../src/kubefile/instructions.js';
import { KubefileError, type SourcePosition } from '../../src/util/errors.js';

const POS: SourcePosition = { file: 'Kubefile', line: 4, col: 9 };
const VARS: Record<string, string> = { X: 'ex', EMPTY: '', SPACED: 'a  b', ARCH: 'amd64', X_Y: 'underscore' };
const lookup: Lookup = (name) => VARS[name];

function expand(word: string): string {
  return expandWord(asWord(word), lookup, POS);
}

function throwsAt(word: string, message: string, hint: RegExp): void {
  assert.throws(
    () => expand(word),
    (error: unknown) => {
      assert.ok(error instanceof KubefileError);
      assert.equal(error.message, `Kubefile:4:9: ${message}`);
      assert.deepEqual(error.position, POS);
      assert.match(error.hint ?? '', hint);
      return true;
    },
  );
}

test('plain words and variables', () => {
  assert.equal(expand('plain/path.yaml'), 'plain/path.yaml');
  assert.equal(expand('$X'), 'ex');
  assert.equal(expand('${X}'), 'ex');
  assert.equal(expand('pre-${X}-post'), 'pre-ex-post');
  assert.equal(expand('$X_Y'), 'underscore', 'a name runs over letters, digits and _');
  assert.equal(expand('$X.yaml'), 'ex.yaml', 'a name stops at other characters');
  assert.equal(expand('${ARCH}/bin/*'), 'amd64/bin/*');
  assert.equal(expand('$SPACED'), 'a  b', 'values are not split or trimmed');
});

test('unset variables expand to the empty string', () => {
  assert.equal(expand('[$UNSET]'), '[]');
  assert.equal(expand('[${UNSET}]'), '[]');
  assert.equal(expand('$1'), '', 'positional parameters are never set');
});

test('a $ not followed by a name is literal', () => {
  assert.equal(expand('$'), '$');
  assert.equal(expand('a$'), 'a$');
  // `$-` is a special parameter (never set), as in BuildKit: it expands to ''.
  assert.equal(expand('cost: $-5'), 'cost: 5');
  assert.equal(expand('$.x $/'), '$.x $/');
});

test('single quotes keep everything literal', () => {
  assert.equal(expand("'$X ${X} \\n \"q\"'"), '$X ${X} \\n "q"');
  assert.equal(expand("'a'$X'$b'"), 'aex$b', 'quoted and unquoted parts join into one word');
});

test('double quotes expand $ and escape only ", $ and backslash', () => {
  assert.equal(expand('"$X and ${X}"'), 'ex and ex');
  assert.equal(expand('"a \\"b\\" \\$X \\\\ c"'), 'a "b" $X \\ c');
  assert.equal(expand('"\\n\\t"'), '\\n\\t', 'other backslashes stay');
  assert.equal(expand('"it\'s"'), "it's");
  assert.equal(expand('k="v 2"'), 'k=v 2');
});

test('an unquoted backslash makes the next character literal', () => {
  assert.equal(expand('\\$X'), '$X');
  assert.equal(expand('\\${X}'), '${X}');
  assert.equal(expand('a\\ b'), 'a b');
  assert.equal(expand('\\"q\\\''), '"q\'');
  assert.equal(expand('C:\\\\dir'), 'C:\\dir');
  assert.equal(expand('end\\'), 'end', 'a trailing backslash is dropped');
});

test('${X:-default} uses the default when X is unset or empty', () => {
  assert.equal(expand('${X:-def}'), 'ex');
  assert.equal(expand('${EMPTY:-def}'), 'def');
  assert.equal(expand('${UNSET:-def}'), 'def');
  assert.equal(expand('${UNSET:-}'), '');
});

test('${X-default} uses the default only when X is unset', () => {
  assert.equal(expand('${X-def}'), 'ex');
  assert.equal(expand('${EMPTY-def}'), '');
  assert.equal(expand('${UNSET-def}'), 'def');
});

test('${X:+alt} gives alt when X is set and non-empty', () => {
  assert.equal(expand('${X:+alt}'), 'alt');
  assert.equal(expand('${EMPTY:+alt}'), '');
  assert.equal(expand('${UNSET:+alt}'), '');
});

test('${X+alt} gives alt when X is set, even to empty', () => {
  assert.equal(expand('${X+alt}'), 'alt');
  assert.equal(expand('${EMPTY+alt}'), 'alt');
  assert.equal(expand('${UNSET+alt}'), '');
});

test('defaults may hold expansions, nested substitutions, quotes and escapes', () => {
  assert.equal(expand('${UNSET:-$X/dir}'), 'ex/dir');
  assert.equal(expand('${UNSET:-${ALSO_UNSET:-${X}}}'), 'ex');
  assert.equal(expand('${UNSET:-${ALSO_UNSET:-deep}}-tail'), 'deep-tail');
  assert.equal(expand('${X:+[${X}]}'), '[ex]');
  assert.equal(expand('${UNSET:-"a b}"}'), 'a b}', 'a quoted } does not close the substitution');
  assert.equal(expand("${UNSET:-'$X'}"), '$X');
  assert.equal(expand('${UNSET:-a\\}b}'), 'a}b');
  assert.equal(expand('"${UNSET:-in quotes}"'), 'in quotes');
});

test('lookup is asked only for names that are expanded', () => {
  const asked: string[] = [];
  expandWord(asWord("'$A' \\$B $C ${D:-$E} \"$F\""), (name) => {
    asked.push(name);
    return name === 'D' ? 'd' : undefined;
  }, POS);
  // The default ${D:-$E} is still expanded (docker checks its syntax even when unused).
  assert.deepEqual(asked, ['C', 'D', 'E', 'F']);
});

test('bad substitution syntax is a KubefileError at the given position', () => {
  throwsAt('${X', 'missing "}" in "${X"', /\$\{NAME\}/);
  throwsAt('a${', 'missing "}" in "a${"', /\$\{NAME\}/);
  throwsAt('${X:-def', 'missing "}" in "${X:-def"', /\$\{NAME:-default\}/);
  throwsAt('${X:', 'missing "}" in "${X:"', /\$\{NAME\}/);
  throwsAt('${}', 'bad substitution: a variable name must follow "${" in "${}"', /\$\{NAME\}/);
  throwsAt('${:-x}', 'bad substitution: a variable name must follow "${" in "${:-x}"', /\$\{NAME\}/);
  throwsAt('${X!}', 'unsupported modifier "!" in ${X...} in "${X!}"', /\$\{NAME:\+alternative\}/);
  throwsAt('${X:=v}', 'unsupported modifier ":=" in ${X...} in "${X:=v}"', /\$\{NAME:-default\}/);
  throwsAt('${X:#prefix}', 'unsupported modifier ":#" in ${X...} in "${X:#prefix}"', /\$\{NAME#pattern\}/);
  throwsAt('${UNSET:-${Y}', 'missing "}" in "${UNSET:-${Y}"', /\$\{NAME\}/);
});

test('unterminated quotes are errors', () => {
  throwsAt('"abc', 'unterminated double quote in "\\"abc"', /"/);
  throwsAt("'abc", 'unterminated single quote in "\'abc"', /'/);
  throwsAt('${UNSET:-"x}', 'unterminated double quote in "${UNSET:-\\"x}"', /"/);
});

test('each word of a list expands on its own', () => {
  assert.deepEqual(['$X', '"a b"', "'$X'", '${UNSET:-d}'].map(expand), ['ex', 'a b', '$X', 'd']);
});

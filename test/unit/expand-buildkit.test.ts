/**
 * Word expansion at BuildKit's level (#14 point 10): one table per behaviour BuildKit's lexer
 * data set (moby/buildkit frontend/dockerfile/shell/envVarTest) and its pattern tests
 * (lex_test.go) cover. The cases are ours, written for each behaviour; `null` means an error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandWord } from '../../src/kubefile/expand.js';
import { asWord } from '../../src/kubefile/instructions.js';
import { KubefileError } from '../../src/util/errors.js';

const ENV: Record<string, string> = { HOME: '/root', TOOL: 'k3s', LANG_KO: '쿠버네티스', BLANK: '', VERSION: 'v1.34.2+k3s1', IMAGE: 'docker.io/library/nginx:1.27', PATH_LIST: '/a/bin:/b/bin:/c/bin', STARS: 'a**b*' };

function check(cases: [string, string | null][], env: Record<string, string> = ENV): void {
  for (const [word, expected] of cases) {
    let got: string | undefined;
    let error: unknown;
    try {
      got = expandWord(asWord(word), (name) => env[name], { file: 'Kubefile', line: 1, col: 1 });
    } catch (err) {
      error = err;
    }
    if (expected === null) assert.ok(error instanceof KubefileError, `${JSON.stringify(word)} should fail, gave ${JSON.stringify(got)}`);
    else assert.equal(error, undefined, `${JSON.stringify(word)} failed: ${String(error)}`), assert.equal(got, expected, JSON.stringify(word));
  }
}

test('quotes: single literal, double expanding, unterminated ones fail', () => {
  check([
    ['wor\'d\'s', 'words'], ["it'", null], ['a"b c"d', 'ab cd'], ['"open', null], ['"ends in escape\\"', null],
    ["'kept \\n'", 'kept \\n'], ["'x\\'", 'x\\'], ["'\\\\'", '\\\\'], ['"it\'s"', "it's"], ['"\'\'"', "''"], ["'\"q\"'", '"q"'],
    ["'$HOME'", '$HOME'], ["'\\$HOME'", '\\$HOME'], ['"$HOME"', '/root'], ['"a\'$TOOL\'b"', "a'k3s'b"],
  ]);
});

test('backslashes: escape outside quotes, only \\ " $ inside double quotes, a trailing one is dropped', () => {
  check([
    ['a\\bc', 'abc'], ['it\\\'s', "it's"], ['it\\\\\'s', null], ['"a\\bc"', 'a\\bc'], ['"a\\\\bc"', 'a\\bc'],
    ['end\\', 'end'], ['end\\\\', 'end\\'], ['\\$HOME', '$HOME'], ['\\\\$HOME', '\\/root'], ['"\\$HOME"', '$HOME'], ['"\\\\$HOME"', '\\/root'],
  ]);
});

test('$ before something that is not a name stays literal; ${} is an error unless escaped', () => {
  check([['price$.', 'price$.'], ['$', '$'], ['a$/b', 'a$/b'], ['\\${}', '${}'], ['x\\${}y', 'x${}y'], ['${}', null], ['x${}y', null]]);
});

test('names: letters, digits and _, case-sensitive, Unicode letters too', () => {
  check([
    ['$HOME/x', '/root/x'], ['$home', ''], ['${HOME}x', '/rootx'], ['$HOMEx', ''], ['${UNSET}', ''], ['$LANG_KO!', '쿠버네티스!'],
    ['언어$LANG_KO', '언어쿠버네티스'], ["한'국'", '한국'], ['${.}', null], ['${{x}', null], ['${x}}', '}'], ['${:}', null], ['${:-a}', null], ['${:+a}', null],
  ]);
});

test('${X-w} ${X:-w} ${X+w} ${X:+w}: set, empty and unset differ only with the colon', () => {
  check([
    ['${UNSET:-d}', 'd'], ['${UNSET-d}', 'd'], ['${BLANK:-d}', 'd'], ['${BLANK-d}', ''], ['${TOOL:-d}', 'k3s'],
    ['${UNSET:-$HOME}', '/root'], ['${UNSET:-${ALSO:-inner}}', 'inner'], ['${UNSET:-${TOOL:-inner}}', 'k3s'],
    ['${UNSET:+a}', ''], ['${BLANK:+a}', ''], ['${BLANK+a}', 'a'], ['${TOOL:+a}', 'a'], ['${TOOL:+${UNSET}}', ''], ['${TOOL:+$TOOL:}', 'k3s:'],
    ['${UNSET:-\\$HOME}', '$HOME'], ['${UNSET:-\\${HOME}z}', '${HOMEz}'], ['${UNSET:-a b {c}', 'a b {c'], ['${UNSET:-a ${b}', null], ['${UNSET:-x}}', 'x}'],
    ['"${UNSET:-q r}"', 'q r'], ["'${UNSET:-q}'", '${UNSET:-q}'],
  ]);
});

test('${X?w} ${X:?w}: the value, else the build fails with w or a default message', () => {
  check([['${TOOL?}', 'k3s'], ['${TOOL:?}', 'k3s'], ['${BLANK?}', ''], ['${BLANK:?}', null], ['${UNSET?}', null], ['${UNSET:?}', null], ['${UNSET?set it}', null]]);
  assert.throws(() => expandWord(asWord('${REGISTRY:?give --build-arg REGISTRY}'), () => undefined, { file: 'Kubefile', line: 3, col: 5 }), /^KubefileError: Kubefile:3:5: REGISTRY: give --build-arg REGISTRY$/);
  assert.throws(() => expandWord(asWord('${REGISTRY?}'), () => undefined, { file: 'Kubefile', line: 3, col: 5 }), /REGISTRY: is not allowed to be unset/);
  assert.throws(() => expandWord(asWord('${REGISTRY:?}'), () => '', { file: 'Kubefile', line: 3, col: 5 }), /REGISTRY: is not allowed to be empty/);
});

test('unknown modifiers and unclosed braces fail', () => {
  check([['${TOOL', null], ['${TOOL:', null], ['${TOOL:x}', null], ['${TOOL:=d}', null], ['${TOOL=d}', null], ['${TOOL^}', null], ['${TOOL:-d', null]]);
});

test('positional parameters ($1, ${10}, $007) are never set', () => {
  check([
    ['$1', ''], ['${2}', ''], ['a$3b', 'ab'], ['$42x', 'x'], ['${42}x', 'x'], ['$007', ''], ['${007:-d}', 'd'], ['${5:+a}', ''], ['${9:-d}x', 'dx'],
  ]);
});

test('special parameters ($@ $* $# $? $- $$ $! $0) are never set', () => {
  const cases: [string, string][] = [];
  for (const p of ['@', '*', '#', '?', '-', '$', '!', '0']) cases.push([`$${p}`, ''], [`\${${p}}`, ''], [`\${${p}:+a}`, ''], [`\${${p}:-d}`, 'd'], [`x$${p}y`, 'xy']);
  check([...cases, ['$@@@', '@@'], ['${@}z', 'z'], ['${*:-d}z', 'dz']]);
});

test('${X#p} ${X##p} ${X%p} ${X%%p}: shortest and longest prefix or suffix, * and ? wildcards', () => {
  check([
    ['${VERSION#v}', '1.34.2+k3s1'], ['${VERSION%+*}', 'v1.34.2'], ['${VERSION%%.*}', 'v1'], ['${VERSION%.*}', 'v1.34'], ['${VERSION#*.}', '34.2+k3s1'], ['${VERSION##*.}', '2+k3s1'],
    ['${IMAGE##*/}', 'nginx:1.27'], ['${IMAGE%:*}', 'docker.io/library/nginx'], ['${IMAGE#*/}', 'library/nginx:1.27'],
    ['${PATH_LIST#*:}', '/b/bin:/c/bin'], ['${PATH_LIST##*:}', '/c/bin'], ['${PATH_LIST%:*}', '/a/bin:/b/bin'], ['${PATH_LIST%%:*}', '/a/bin'],
    ['${VERSION#?1}', '.34.2+k3s1'], ['${VERSION#x}', 'v1.34.2+k3s1'], ['${VERSION#}', 'v1.34.2+k3s1'], ['${VERSION%%}', 'v1.34.2+k3s1'], ['${VERSION#*}', 'v1.34.2+k3s1'],
    ['${UNSET#a}', ''], ['${VERSION#$PREFIX}', 'v1.34.2+k3s1'], ['${TOOL#${TOOL%s}}', 's'],
  ]);
});

test('patterns: \\ escapes * ? \\ and keeps } /; regular-expression characters are plain', () => {
  check([
    ['${STARS%%\\**}', 'a'], ['${STARS#a\\*}', '*b*'], ['${STARS##a\\**}', ''], ['${STARS##*\\*}', ''], ['${STARS%\\*}', 'a**b'],
    ['${X#(.)[+]{\\}^$|}', '\\tail'], ['${X%\\\\tail}', '(.)[+]{}^$|'], ['${X#\\q}', null],
  ], { ...ENV, X: '(.)[+]{}^$|\\tail' });
  check([['${STARS:#a}', null], ['${STARS:%a}', null], ['${STARS:##a}', null], ['${STARS:%%a}', null]]);
});

test('${X/p/r} ${X//p/r}: first or every longest match replaced; r is literal', () => {
  check([
    ['${IMAGE/docker.io/registry.local}', 'registry.local/library/nginx:1.27'], ['${PATH_LIST//:/ }', '/a/bin /b/bin /c/bin'], ['${PATH_LIST/:/ }', '/a/bin /b/bin:/c/bin'],
    ['${PATH_LIST//\\/bin/}', '/a:/b:/c'], ['${PATH_LIST/\\/*\\//x}', 'xbin'], ['${PATH_LIST//?\\/bin/X}', '/X:/X:/X'], ['${VERSION/+/-}', 'v1.34.2-k3s1'],
    ['${TOOL/$EMPTY/pre-}', 'pre-k3s'], ['${TOOL///}', 'k3s'], ['${UNSET///}', ''], ['${TOOL//x}', null], ['${TOOL//}', null], ['${TOOL/k/\\/}', '\\/3s'],
  ], { ...ENV, EMPTY: '' });
});

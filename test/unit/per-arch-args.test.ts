import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandedChecksum } from '../../src/builder/url-source.js';
import { expandWord } from '../../src/kubefile/expand.js';
import { asWord } from '../../src/kubefile/instructions.js';
import { parseKubefile } from '../../src/kubefile/parse.js';
import { KubefileError, type SourcePosition } from '../../src/util/errors.js';

/*
 * Per-architecture values in a Kubefile: ${NAME_${ARCH}} (a sealbuild extension) and ADD
 * --checksum with variables (as BuildKit allows), which the basefs Kubefiles pin their
 * downloads with.
 */

const POS: SourcePosition = { file: 'Kubefile', line: 3, col: 1 };
const HEX = 'ab'.repeat(32);

test('a variable name may be built from substitutions: ${SHA_${ARCH}} picks the per-architecture ARG', () => {
  const vars: Record<string, string> = { ARCH: 'arm64', SHA_amd64: 'sha256:aaa', SHA_arm64: 'sha256:bbb', BIN_arm64: 'k3s-arm64', SUFFIX: 'arm64' };
  const lookup = (name: string) => vars[name];
  assert.equal(expandWord(asWord('${SHA_${ARCH}}'), lookup, POS), 'sha256:bbb');
  assert.equal(expandWord(asWord('https://x/${BIN_$ARCH}'), lookup, POS), 'https://x/k3s-arm64');
  assert.equal(expandWord(asWord('${BIN_${SUFFIX}:-none}'), lookup, POS), 'k3s-arm64');
  assert.equal(expandWord(asWord('${SHA_${MISSING}:-fallback}'), lookup, POS), 'fallback');
  // Not a nested substitution: `$` followed by something that starts no name stays an error.
  assert.throws(() => expandWord(asWord('${SHA$}'), lookup, POS), /unsupported modifier "\$"/);
});

test('ADD --checksum with variables is checked after expansion, a literal one at parse time', () => {
  const kubefile = parseKubefile('FROM scratch\nARG SHA_amd64\nADD --checksum=${SHA_${ARCH}} https://example.com/k3s /bin/k3s\n', 'Kubefile');
  const add = kubefile.stages[0]!.instructions[1]!;
  assert.equal(add.kind === 'ADD' && add.checksum, '${SHA_${ARCH}}');
  assert.throws(() => parseKubefile('FROM scratch\nADD --checksum=sha256:XYZ https://example.com/k3s /bin/\n', 'Kubefile'), /invalid --checksum value "sha256:XYZ"/);
  assert.equal(expandedChecksum(`sha256:${HEX}`, '${SHA}', POS), `sha256:${HEX}`);
  assert.throws(() => expandedChecksum('', '${SHA_${ARCH}}', POS), (err: unknown) => {
    assert.ok(err instanceof KubefileError);
    assert.equal(err.message, 'Kubefile:3:1: --checksum=${SHA_${ARCH}} expands to "", not a sha256 digest');
    assert.match(err.hint ?? '', /--build-arg/);
    return true;
  });
});

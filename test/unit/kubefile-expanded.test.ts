import assert from 'node:assert/strict';
import { test } from 'node:test';
import { declareArgs, expandInstruction } from '../../src/kubefile/expanded.js';
import { flagsOf } from '../../src/kubefile/flags.js';
import { writtenWord, type ArgInstruction, type Instruction } from '../../src/kubefile/instructions.js';
import { parseKubefile } from '../../src/kubefile/parse.js';
import { KubefileError } from '../../src/util/errors.js';

/** The instructions of a one-stage Kubefile after its FROM. */
function instructions(text: string): Instruction[] {
  return parseKubefile(`FROM scratch\n${text}`, 'Kubefile').stages[0]!.instructions;
}

function only<K extends Instruction['kind']>(text: string, kind: K): Extract<Instruction, { kind: K }> {
  const [ins] = instructions(text);
  assert.equal(ins?.kind, kind);
  return ins as Extract<Instruction, { kind: K }>;
}

const VARS: Record<string, string> = { USER: 'app', STAGE: 'builder', DIR: '/srv', SUM: `sha256:${'a'.repeat(64)}` };
const lookup = (name: string) => VARS[name];

test('COPY and ADD: paths and flags become values; flags not given stay absent; the parsed words stay in written', () => {
  const copy = expandInstruction(only('COPY --chown=$USER:1 --from=${STAGE} --chmod=0644 "a b" $DIR/', 'COPY'), lookup);
  assert.deepEqual({ sources: copy.sources, dest: copy.dest, chown: copy.chown, from: copy.from, chmod: copy.chmod }, { sources: ['a b'], dest: '/srv/', chown: 'app:1', from: 'builder', chmod: '0644' });
  assert.equal(writtenWord(copy.written.dest), '$DIR/');
  const add = expandInstruction(only('ADD --checksum=$SUM https://example.com/x /x', 'ADD'), lookup);
  assert.equal(add.checksum, VARS.SUM);
  assert.ok(!('chown' in add) && !('chmod' in add), 'no key for a flag not given');
});

test('ENV, LABEL and APPENV pairs all see the variables as they were before the line', () => {
  const env = expandInstruction(only('ENV A=1 B=${A:-unset} C=$USER', 'ENV'), lookup);
  assert.deepEqual(env.pairs, [{ key: 'A', value: '1' }, { key: 'B', value: 'unset' }, { key: 'C', value: 'app' }]);
  const appenv = expandInstruction(only('APPENV web HOME=$DIR', 'APPENV'), lookup);
  assert.deepEqual(appenv.pairs, [{ key: 'HOME', value: '/srv' }]);
});

test('config instructions: single words and lists are values; commands are left as written', () => {
  assert.equal(expandInstruction(only('USER $USER', 'USER'), lookup).user, 'app');
  assert.equal(expandInstruction(only('WORKDIR ${DIR}/x', 'WORKDIR'), lookup).path, '/srv/x');
  assert.deepEqual(expandInstruction(only('VOLUME ["$DIR", "/b"]', 'VOLUME'), lookup).paths, ['/srv', '/b']);
  assert.deepEqual(expandInstruction(only('RUN echo $DIR', 'RUN'), lookup).args, ['echo $DIR']);
});

test('FROM expands its image and --platform with the lookup it is given', () => {
  const from = parseKubefile('ARG V=1\nFROM --platform=linux/$ARCH img:$V AS base\n', 'Kubefile').stages[0]!.from;
  const expanded = expandInstruction(from, (name) => ({ ARCH: 'arm64', V: '2' })[name]);
  assert.deepEqual({ image: expanded.image, platform: expanded.platform, alias: expanded.alias }, { image: 'img:2', platform: 'linux/arm64', alias: 'base' });
});

test('an expansion error points at the instruction keyword', () => {
  assert.throws(() => expandInstruction(only('\nLABEL a=${NOPE:?unset}', 'LABEL'), lookup), (err: unknown) => {
    assert.ok(err instanceof KubefileError);
    assert.equal(err.message, 'Kubefile:3:1: NOPE: unset');
    return true;
  });
});

test('declareArgs: each default sees the ARGs declared before it on the same line', () => {
  const declared = new Map<string, string | undefined>();
  const scope = { lookup: (name: string) => declared.get(name), declareArg: (name: string, value: string | undefined) => declared.set(name, value) };
  declareArgs(only('ARG A=1 B=${A}2 C', 'ARG') as ArgInstruction, scope);
  assert.deepEqual([...declared], [['A', '1'], ['B', '12'], ['C', undefined]]);
});

test('the types: a Word is not a value, and an instruction reads only the flags its kind accepts', () => {
  const user = only('USER $USER', 'USER');
  // @ts-expect-error a Word must be expanded (or written out with writtenWord) before it is used as a string
  const value: string = user.user;
  assert.equal(value, '$USER');
  const flags = flagsOf('COPY', new Map());
  // @ts-expect-error COPY accepts no --checksum
  assert.equal(flags.checksum, undefined);
});

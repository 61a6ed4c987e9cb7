import assert from 'node:assert/strict';
import { test } from 'node:test';
import { neededStages } from '../../src/builder/stages.js';
import { globalScope } from '../../src/builder/variables.js';
import { parseKubefile } from '../../src/kubefile/parse.js';

/*
 * Which stages a build builds (builder/stages.ts neededStages): only those the last stage
 * reaches through FROM and COPY --from, by name or number, after the global ARGs expand.
 */

const LINUX_AMD64 = { os: 'linux', architecture: 'amd64' };

function needed(kubefile: string, buildArgs: Record<string, string> = {}): number[] {
  const parsed = parseKubefile(kubefile, 'Kubefile');
  return neededStages(parsed, globalScope(parsed, new Map(Object.entries(buildArgs)), LINUX_AMD64));
}

const cases: { name: string; kubefile: string; buildArgs?: Record<string, string>; needed: number[] }[] = [
  { name: 'one stage', kubefile: 'FROM scratch\nCOPY a /a\n', needed: [0] },
  { name: 'a stage nothing uses is not built', kubefile: 'FROM scratch AS unused\nFROM scratch\n', needed: [1] },
  { name: 'FROM a stage by name', kubefile: 'FROM scratch AS base\nFROM scratch AS other\nFROM base\n', needed: [0, 2] },
  { name: 'a stage is named in any case', kubefile: 'FROM scratch AS base\nFROM BASE\n', needed: [0, 1] },
  { name: 'COPY --from a stage by number', kubefile: 'FROM scratch\nFROM scratch\nFROM scratch\nCOPY --from=1 /x /x\n', needed: [1, 2] },
  { name: 'a chain: the last stage copies from a stage built on another', kubefile: 'FROM scratch AS a\nFROM a AS b\nFROM scratch AS c\nFROM scratch\nCOPY --from=b /x /x\n', needed: [0, 1, 3] },
  { name: 'COPY --from an image is no stage', kubefile: 'FROM scratch AS a\nFROM scratch\nCOPY --from=docker.io/library/busybox:1 /bin/sh /sh\n', needed: [1] },
  { name: 'a global ARG names the stage', kubefile: 'ARG SRC=a\nFROM scratch AS a\nFROM scratch AS b\nFROM scratch\nCOPY --from=${SRC} /x /x\n', needed: [0, 2] },
  { name: '--build-arg overrides the global ARG', kubefile: 'ARG SRC=a\nFROM scratch AS a\nFROM scratch AS b\nFROM scratch\nCOPY --from=${SRC} /x /x\n', buildArgs: { SRC: 'b' }, needed: [1, 2] },
  { name: 'FROM a stage by a global ARG', kubefile: 'ARG BASE=one\nFROM scratch AS one\nFROM ${BASE}\n', needed: [0, 1] },
];

for (const c of cases) {
  test(`stage selection: ${c.name}`, () => {
    assert.deepEqual(needed(c.kubefile, c.buildArgs), c.needed);
  });
}

const refused: { name: string; kubefile: string; error: RegExp }[] = [
  { name: 'a stage copying from itself', kubefile: 'FROM scratch AS a\nCOPY --from=a /x /x\n', error: /Kubefile:2:\d+: .*stage "a" cannot use itself/ },
  { name: 'a stage copying from a later one by number', kubefile: 'FROM scratch\nCOPY --from=1 /x /x\nFROM scratch\nCOPY --from=0 /y /y\n', error: /Kubefile:2:\d+: .*stage "1" comes later/ },
];

for (const c of refused) {
  test(`stage selection refuses ${c.name}`, () => {
    assert.throws(() => needed(c.kubefile), c.error);
  });
}

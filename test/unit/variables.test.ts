import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VariableScope, platformArgs } from '../../src/builder/variables.js';

const builtins = platformArgs({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'amd64' });

test('platform arguments describe the target and the build machine', () => {
  assert.equal(builtins.TARGETPLATFORM, 'linux/arm/v7');
  assert.equal(builtins.TARGETVARIANT, 'v7');
  assert.equal(builtins.ARCH, 'arm');
  assert.equal(builtins.BUILDPLATFORM, 'linux/amd64');
});

test('a global ARG is visible in a stage only once redeclared, as in docker', () => {
  const global = new VariableScope(new Map(), builtins);
  global.declareArg('VERSION', '1.0');
  assert.equal(global.lookup('VERSION'), '1.0');
  const stage = global.stageScope();
  assert.equal(stage.lookup('VERSION'), undefined);
  stage.declareArg('VERSION', undefined);
  assert.equal(stage.lookup('VERSION'), '1.0');
  assert.equal(stage.lookup('ARCH'), 'arm', 'platform args need no declaration');
});

test('--build-arg beats defaults, ENV beats ARG, unused build args are reported', () => {
  const scope = new VariableScope(new Map([['A', 'from-cli'], ['UNUSED', 'x']]), builtins).stageScope();
  scope.declareArg('A', 'default');
  assert.equal(scope.lookup('A'), 'from-cli');
  scope.setEnv('A', 'from-env');
  assert.equal(scope.lookup('A'), 'from-env');
  scope.declareArg('B', undefined);
  assert.equal(scope.lookup('B'), undefined);
  assert.deepEqual(scope.unusedBuildArgs(), ['UNUSED']);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cacheKey } from '../../src/builder/cache.js';

/*
 * Layer cache keys (builder/cache.ts cacheKey): the same parts give the same key however the
 * code built them; any change in a part gives another key.
 */

const RUN = { kind: 'RUN', argv: ['/bin/sh', '-c', 'make'], env: [['A', '1']], isolation: 'sandbox', network: 'none' };

const same: { name: string; a: Record<string, unknown>; b: Record<string, unknown> }[] = [
  { name: 'object keys in another order', a: { parent: 'p', step: { kind: 'WORKDIR', path: '/x' } }, b: { step: { path: '/x', kind: 'WORKDIR' }, parent: 'p' } },
  { name: 'an undefined field is no field', a: { parent: 'p', step: RUN, from: undefined }, b: { parent: 'p', step: RUN } },
  { name: 'nested objects in arrays, keys in another order', a: { inputs: [{ path: 'a', digest: 'd' }] }, b: { inputs: [{ digest: 'd', path: 'a' }] } },
];

const different: { name: string; a: Record<string, unknown>; b: Record<string, unknown> }[] = [
  { name: 'another parent', a: { parent: 'p1', step: RUN }, b: { parent: 'p2', step: RUN } },
  { name: 'another command', a: { parent: 'p', step: RUN }, b: { parent: 'p', step: { ...RUN, argv: ['/bin/sh', '-c', 'make all'] } } },
  { name: 'another network', a: { parent: 'p', step: RUN }, b: { parent: 'p', step: { ...RUN, network: 'host' } } },
  { name: 'argv split differently', a: { step: { argv: ['a b'] } }, b: { step: { argv: ['a', 'b'] } } },
  { name: 'input files in another order (the order is part of the step)', a: { inputs: ['a', 'b'] }, b: { inputs: ['b', 'a'] } },
  { name: 'a string and a number', a: { mode: '420' }, b: { mode: 420 } },
  { name: 'null and no field', a: { from: null }, b: {} },
  { name: 'a COPY --from source', a: { parent: 'p', step: 's' }, b: { parent: 'p', step: 's', from: 'image:sha256:00' } },
];

test('cache key: a sha256 digest', () => {
  assert.match(cacheKey({ parent: 'p' }), /^sha256:[0-9a-f]{64}$/);
});

for (const c of same) {
  test(`cache key: the same for ${c.name}`, () => assert.equal(cacheKey(c.a), cacheKey(c.b)));
}

for (const c of different) {
  test(`cache key: another for ${c.name}`, () => assert.notEqual(cacheKey(c.a), cacheKey(c.b)));
}

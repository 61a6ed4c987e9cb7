import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Layer } from '../../src/layer/image-model.js';
import type { Digest } from '../../src/oci/digest.js';
import type { LayerFacts, PathFacts } from '../../src/runtime/layer-facts.js';
import { LazyLayerView } from '../../src/runtime/lazy-layer-view.js';

/*
 * The build's layer view (runtime/lazy-layer-view.ts) over a fake facts memo: layers are
 * names, their facts are given here, and no layer is ever opened.
 */

const dir = (mode = 0o755): PathFacts => ({ type: 'directory', mode, size: 0 });
const file = (): PathFacts => ({ type: 'file', mode: 0o644, size: 1 });

interface FakeLayer {
  entries?: Record<string, PathFacts>;
  removed?: string[];
  opaque?: string[];
}

/** Layers whose facts a fake memo answers, counting each question. */
function fakeLayers(...layers: FakeLayer[]): { layers: Layer[]; asked: string[]; memo: { facts(layer: Layer): Promise<LayerFacts> } } {
  const facts = new Map<Digest, LayerFacts>();
  const made = layers.map((l, i) => {
    const diffId = `sha256:${String(i).padStart(64, '0')}` as Digest;
    facts.set(diffId, { version: 4, entries: l.entries ?? {}, removed: l.removed ?? [], opaque: l.opaque ?? [] });
    return { descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: diffId, size: 0 }, diffId, open: () => assert.fail('the view opened a layer') };
  });
  const asked: string[] = [];
  return {
    layers: made,
    asked,
    memo: {
      facts: async (layer) => {
        asked.push(layer.diffId);
        return facts.get(layer.diffId) ?? assert.fail(`no facts for ${layer.diffId}`);
      },
    },
  };
}

const cases: { name: string; layers: FakeLayer[]; dirs: Record<string, boolean>; modes?: Record<string, number | undefined> }[] = [
  { name: 'no layers: only the root is a directory', layers: [], dirs: { '': true, etc: false } },
  { name: 'a directory and a file of one layer', layers: [{ entries: { etc: dir(0o750), 'etc/a': file() } }], dirs: { etc: true, 'etc/a': false, usr: false }, modes: { etc: 0o750, 'etc/a': undefined } },
  { name: 'a later layer sets a directory\'s mode', layers: [{ entries: { etc: dir(0o700) } }, { entries: { etc: dir(0o755) } }], dirs: { etc: true }, modes: { etc: 0o755 } },
  { name: 'a whiteout removes a directory and all under it', layers: [{ entries: { etc: dir(), 'etc/sub': dir() } }, { removed: ['etc'] }], dirs: { etc: false, 'etc/sub': false } },
  { name: 'an opaque directory keeps itself but hides what is under it', layers: [{ entries: { etc: dir(0o711), 'etc/sub': dir() } }, { opaque: ['etc'] }], dirs: { etc: true, 'etc/sub': false }, modes: { etc: 0o711 } },
  { name: 'a file replacing a directory replaces its tree', layers: [{ entries: { opt: dir(), 'opt/x': dir() } }, { entries: { opt: file() } }], dirs: { opt: false, 'opt/x': false }, modes: { opt: undefined } },
  { name: 'a directory brought back after a whiteout', layers: [{ entries: { srv: dir(0o700) } }, { removed: ['srv'] }, { entries: { srv: dir(0o755) } }], dirs: { srv: true }, modes: { srv: 0o755 } },
];

for (const c of cases) {
  test(`layer view: ${c.name}`, async () => {
    const { layers, memo } = fakeLayers(...c.layers);
    const view = new LazyLayerView(memo);
    for (const layer of layers) view.add(layer);
    await view.ready();
    for (const [path, isDir] of Object.entries(c.dirs)) assert.equal(view.isDirectory(path), isDir, `isDirectory(${JSON.stringify(path)})`);
    for (const [path, mode] of Object.entries(c.modes ?? {})) assert.equal(view.modeOf(path), mode, `modeOf(${JSON.stringify(path)})`);
  });
}

test('layer view: a layer is looked at only when a question is asked, and only once', async () => {
  const { layers, asked, memo } = fakeLayers({ entries: { a: dir() } }, { entries: { b: dir() } }, { removed: ['a'] });
  const view = new LazyLayerView(memo);
  view.add(layers[0]!);
  view.add(layers[1]!);
  assert.deepEqual(asked, [], 'adding reads nothing');
  assert.throws(() => view.isDirectory('a'), /before ready/);
  await view.ready();
  await view.ready();
  assert.deepEqual(asked, [layers[0]!.diffId, layers[1]!.diffId]);
  assert.equal(view.isDirectory('a'), true);
  view.add(layers[2]!);
  assert.throws(() => view.modeOf('a'), /before ready/, 'a layer added since the last ready() is applied first');
  await view.ready();
  assert.equal(view.isDirectory('a'), false);
  assert.deepEqual(asked, layers.map((l) => l.diffId), 'each layer asked once');
});

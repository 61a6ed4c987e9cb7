import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { Digest } from '../../src/oci/digest.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { copyBlobs, type BlobSink, type BlobSource, type Shortcut } from '../../src/transfer/copy.js';
import { Reporter } from '../../src/util/reporter.js';

const blob = (c: string, size: number): Descriptor => ({ mediaType: 'application/octet-stream', digest: `sha256:${c.repeat(64)}` as Digest, size });

/** A source of `size` zero bytes per blob. */
const source: BlobSource = {
  openBlob: (_digest, size, onBytes) => Readable.from((function* () {
    onBytes?.(size);
    yield Buffer.alloc(size);
  })()),
};

/** A sink in memory: `shortcuts` by digest, everything else received (slowly, to see how many overlap). */
function memorySink(shortcuts: Map<Digest, Shortcut | 'held'>) {
  const received: Digest[] = [];
  let inFlight = 0;
  let most = 0;
  const sink: BlobSink = {
    sentState: 'stored',
    says: (state) => `was ${state}`,
    shortcut: async (b) => shortcuts.get(b.digest),
    receive: async (b, from, onBytes) => {
      inFlight++;
      most = Math.max(most, inFlight);
      for await (const chunk of from.openBlob(b.digest, b.size, onBytes)) assert.equal((chunk as Buffer).length, b.size);
      await sleep(5);
      received.push(b.digest);
      inFlight--;
    },
  };
  return { sink, received, most: () => most };
}

function jsonReporter() {
  const events: { state?: string; digest?: string }[] = [];
  const reporter = new Reporter('json', { write: (text: string) => events.push(...text.trim().split('\n').map((l) => JSON.parse(l) as { state?: string })) }, {});
  return { reporter, events };
}

test('copy: shortcuts are reported with their state, held blobs say nothing, the rest are sent and counted, at most `concurrency` at once', async () => {
  const blobs = ['a', 'b', 'c', 'd', 'e', 'f'].map((c, i) => blob(c, 10 * (i + 1)));
  const { sink, received, most } = memorySink(new Map<Digest, Shortcut | 'held'>([[blobs[0]!.digest, 'exists'], [blobs[1]!.digest, 'mounted'], [blobs[2]!.digest, 'held']]));
  const { reporter, events } = jsonReporter();
  const { sentBytes } = await copyBlobs(blobs.map((b) => ({ blob: b, source })), sink, { reporter, concurrency: 2, verb: 'copying' });
  assert.equal(sentBytes, 40 + 50 + 60);
  assert.deepEqual(received.sort(), blobs.slice(3).map((b) => b.digest).sort());
  assert.equal(most(), 2);
  const states = (digest: string) => events.filter((e) => e.digest === digest).map((e) => e.state);
  assert.deepEqual(states(blobs[0]!.digest), ['exists']);
  assert.deepEqual(states(blobs[1]!.digest), ['mounted']);
  assert.deepEqual(states(blobs[2]!.digest), []);
  assert.deepEqual(states(blobs[3]!.digest), ['start', 'stored']);
});

test('copy: the first failure rejects the copy once the blobs in flight have settled', async () => {
  const blobs = ['1', '2', '3'].map((c) => blob(c, 1));
  let settled = 0;
  const sink: BlobSink = {
    sentState: 'stored',
    says: (state) => state,
    shortcut: async () => undefined,
    receive: async (b) => {
      await sleep(b.digest === blobs[0]!.digest ? 1 : 20);
      settled++;
      if (b.digest === blobs[0]!.digest) throw new Error('refused');
    },
  };
  await assert.rejects(copyBlobs(blobs.map((b) => ({ blob: b, source })), sink, { reporter: jsonReporter().reporter, concurrency: 2, verb: 'copying' }), /refused/);
  assert.equal(settled, 2, 'the second blob in flight finished; the third never started');
});

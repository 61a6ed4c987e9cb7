import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { teeInspect } from '../../src/layer/tee.js';

function chunks(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(size, i));
}

async function collect(stream: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(chunk as Buffer);
  return Buffer.concat(out);
}

test('both sides get every byte, with a slow inspector setting the pace', async () => {
  const input = chunks(64, 64 * 1024);
  let inFlightMax = 0;
  let passed = 0;
  let inspected = 0;
  const { stream, result } = teeInspect(async (copy) => {
    const out: Buffer[] = [];
    for await (const chunk of copy) {
      inspected += (chunk as Buffer).length;
      inFlightMax = Math.max(inFlightMax, passed - inspected);
      out.push(chunk as Buffer);
      await sleep(1);
    }
    return Buffer.concat(out);
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      passed += chunk.length;
      done();
    },
  });
  const received: Buffer[] = [];
  stream.on('data', (c: Buffer) => received.push(c));
  await pipeline(Readable.from(input), stream, sink);
  const copy = await result;
  assert.deepEqual(copy, Buffer.concat(input));
  assert.equal(passed, copy.length);
  assert.ok(inFlightMax < 8 * 64 * 1024, `the pass-through side waited for the inspector (ran ahead by ${inFlightMax} bytes)`);
});

test('an inspector that fails fails the stream with its error', async () => {
  const { stream, result } = teeInspect(async (copy) => {
    for await (const _ of copy) throw new Error('bad layer');
  });
  await assert.rejects(pipeline(Readable.from(chunks(32, 64 * 1024)), stream, new Writable({ write: (_c, _e, done) => done() })), /bad layer/);
  await assert.rejects(result, /bad layer/);
});

test('a stream that breaks off settles the inspector instead of leaving it waiting', { timeout: 10_000 }, async () => {
  const { stream, result } = teeInspect((copy) => collect(copy));
  const failing = new Readable({
    read() {
      this.push(Buffer.alloc(1024));
      this.destroy(new Error('source file changed'));
    },
  });
  await assert.rejects(pipeline(failing, stream, new Writable({ write: (_c, _e, done) => done() })), /source file changed/);
  await assert.rejects(result, /ended before it was complete/);
});

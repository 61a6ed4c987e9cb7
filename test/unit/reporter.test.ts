import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Reporter, formatBytes } from '../../src/util/reporter.js';

function terminal(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, out: { isTTY, columns: 100, write: (text: string) => writes.push(text) } };
}

test('plain mode prints a line when a blob starts and ends, nothing per byte', () => {
  const { writes, out } = terminal(false);
  const reporter = new Reporter('auto', out);
  const t = reporter.transfer(`sha256:${'ab'.repeat(32)}`, 2_500_000, 'copying');
  t.add(1_000_000);
  t.end('done');
  assert.deepEqual(writes, ['  copying blob abababababab (2.50 MB)\n', '  blob abababababab done\n']);
});

test('on a terminal a live line shows the bytes in flight and is cleared before other lines', () => {
  const { writes, out } = terminal(true);
  const reporter = new Reporter('auto', out);
  const t = reporter.transfer(`sha256:${'cd'.repeat(32)}`, 1000, 'copying');
  t.add(500);
  assert.match(writes.at(-1)!, /^\r\x1b\[K {2}\[=+ +\] 500 B \/ 1.00 kB, 1 blob$/);
  reporter.info('hello');
  assert.deepEqual(writes.slice(-2, -1), ['hello\n']);
  assert.equal(writes.at(-3), '\r\x1b[K');
  t.end('done');
  assert.equal(writes.at(-1), '  blob cdcdcdcdcdcd done\n');
});

test('json mode emits one event per line; quiet keeps only warnings', () => {
  const json = terminal(false);
  new Reporter('json', json.out).transfer(`sha256:${'ef'.repeat(32)}`, 10, 'copying').end('done');
  assert.deepEqual(json.writes.map((w) => JSON.parse(w).state), ['start', 'done']);
  const quiet = terminal(false);
  const reporter = new Reporter('quiet', quiet.out);
  reporter.info('not shown');
  reporter.warn('shown');
  assert.deepEqual(quiet.writes, ['WARNING: shown\n']);
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1_234_567_890), '1.23 GB');
});

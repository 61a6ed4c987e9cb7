import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Reporter, formatBytes, seconds } from '../../src/util/reporter.js';
import { screen } from '../helpers/screen.js';

function terminal(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, out: { isTTY, columns: 100, write: (text: string) => writes.push(text) } };
}

test('plain mode: a line when a blob starts and ends; layers with human sizes and their time; the total at the end', () => {
  const { writes, out } = terminal(false);
  const reporter = new Reporter('auto', out);
  const t = reporter.transfer(`sha256:${'ab'.repeat(32)}`, 2_500_000, 'copying');
  t.add(1_000_000);
  t.end('done');
  reporter.step(2, 3, 'COPY big /', 'linux/amd64');
  assert.equal(reporter.layer(135_000_000), undefined, 'no per-byte work off a terminal');
  reporter.layerWritten(`sha256:${'cd'.repeat(32)}`, 135_044_371);
  reporter.finish('Built x');
  assert.deepEqual(writes.slice(0, 3), ['  copying blob abababababab (2.50 MB)\n', '  blob abababababab done\n', 'STEP 2/3 [linux/amd64]: COPY big /\n']);
  assert.match(writes[3]!, /^ {2}layer cdcdcdcdcdcd 135\.0 MB in \d+\.\ds\n$/);
  assert.match(writes[4]!, /^Built x in \d+\.\ds\n$/);
});

test('tty mode: finished steps scroll up with size and time, the running one is redrawn in place with its bytes', () => {
  const { writes, out } = terminal(true);
  const reporter = new Reporter('auto', out, {});
  reporter.step(1, 3, 'FROM scratch', 'linux/amd64');
  reporter.step(2, 3, 'COPY big.bin /', 'linux/amd64');
  const layer = reporter.layer(200_000_000)!;
  layer.add(50_000_000);
  reporter.warn('a warning stays above');
  let shown = screen(writes.join(''));
  assert.match(shown[0]!, /^=> \[linux\/amd64 1\/3\] FROM scratch +\d+\.\ds$/);
  assert.equal(shown[1], 'WARNING: a warning stays above');
  assert.match(shown[2]!, /^=> \[linux\/amd64 2\/3\] COPY big\.bin \/ +50\.0 MB \/ 200\.0 MB  . \d+\.\ds$/);
  assert.equal(shown.length, 3);
  layer.end('done');
  reporter.layerWritten(`sha256:${'ef'.repeat(32)}`, 120_000_000);
  reporter.step(3, 3, 'COPY small /', 'linux/amd64');
  reporter.cached(`sha256:${'01'.repeat(32)}`);
  reporter.finish('Built x');
  shown = screen(writes.join(''));
  assert.match(shown[2]!, /^=> \[linux\/amd64 2\/3\] COPY big\.bin \/ +120\.0 MB  \d+\.\ds$/);
  assert.match(shown[3]!, /^=> CACHED \[linux\/amd64 3\/3\] COPY small \/ +\d+\.\ds$/);
  assert.match(shown[4]!, /^\[\+\] Built x in \d+\.\ds \(3 steps\)$/);
  assert.equal(shown.length, 5);
});

test('colours only on a terminal and never with NO_COLOR', () => {
  const coloured = terminal(true);
  new Reporter('tty', coloured.out, {}).warn('w');
  assert.equal(coloured.writes.join(''), '\x1b[33mWARNING: w\x1b[0m\n');
  const plain = terminal(true);
  new Reporter('tty', plain.out, { NO_COLOR: '1' }).warn('w');
  assert.equal(plain.writes.join(''), 'WARNING: w\n');
  const piped = terminal(false);
  new Reporter('auto', piped.out, {}).warn('w');
  assert.equal(piped.writes.join(''), 'WARNING: w\n');
});

test('json mode emits one event per line, as before; quiet keeps only warnings', () => {
  const json = terminal(false);
  const reporter = new Reporter('json', json.out);
  reporter.transfer(`sha256:${'ef'.repeat(32)}`, 10, 'copying').end('done');
  reporter.cached(`sha256:${'01'.repeat(32)}`);
  reporter.layerWritten(`sha256:${'02'.repeat(32)}`, 1234);
  const events = json.writes.map((w) => JSON.parse(w));
  assert.deepEqual(events.slice(0, 2).map((e) => e.state), ['start', 'done']);
  assert.deepEqual(events[2], { event: 'info', message: '  CACHED 010101010101', cached: true, digest: `sha256:${'01'.repeat(32)}` });
  assert.equal(events[3].size, 1234);
  const quiet = terminal(false);
  const q = new Reporter('quiet', quiet.out);
  q.info('not shown');
  q.warn('shown');
  assert.deepEqual(quiet.writes, ['WARNING: shown\n']);
});

test('sizes and times read as people write them', () => {
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1_234_567_890), '1.23 GB');
  assert.equal(formatBytes(135_044_371), '135.0 MB');
  assert.equal(seconds(300), '0.3s');
  assert.equal(seconds(125_000), '2m05s');
});

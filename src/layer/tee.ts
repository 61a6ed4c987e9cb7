import { PassThrough, Transform, type Readable } from 'node:stream';

/**
 * A pass-through stream that also hands a copy of every chunk to `inspect`, so a layer's tar
 * is looked at while it is written instead of being read back afterwards. The slower reader
 * sets the pace (backpressure from both sides), so nothing piles up in memory. A failure of
 * `inspect` fails the stream; a stream that ends early fails the copy, so `result` always
 * settles. If `inspect` returns before the end, the rest is not copied.
 */
export function teeInspect<T>(inspect: (copy: Readable) => Promise<T>): { stream: Transform; result: Promise<T> } {
  const copy = new PassThrough();
  let settled = false;
  let resume: (() => void) | undefined;
  const result = inspect(copy).finally(() => {
    settled = true;
    resume?.();
  });
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (settled || copy.write(chunk)) return done(null, chunk);
      resume = () => {
        resume = undefined;
        done(null, chunk);
      };
      copy.once('drain', () => resume?.());
    },
    flush(done) {
      copy.end();
      done();
    },
  });
  result.catch((err: unknown) => stream.destroy(err as Error));
  stream.on('close', () => {
    if (!copy.writableEnded) copy.destroy(new Error('the layer tar ended before it was complete'));
  });
  return { stream, result };
}

import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { UserError } from '../util/errors.js';

/** An external program is not installed; callers may need to tell this apart from bad data. */
export class MissingToolError extends UserError {}

export interface FilterTool {
  command: string;
  args: string[];
  /** The Debian/Ubuntu package that provides `command`, named in the error when it is missing. */
  aptPackage: string;
  /** What the filter does, for error messages: "decompress zstd data", "compress a layer with zstd". */
  purpose: string;
  /** The hint when the tool exits non-zero. */
  failureHint: string;
}

/**
 * Runs `tool` as a stream filter: `input` to its stdin, its stdout as the returned stream, so
 * memory use stays constant whatever the size. Errors, including a non-zero exit, surface as
 * an error on the returned stream; destroying the returned stream stops the tool.
 */
export function filterThrough(input: Readable, tool: FilterTool): Readable {
  const name = `${tool.command} ${tool.args.join(' ')}`;
  // The output only ends once the tool has exited 0: a tool that dies half-way must not look
  // like a shorter but valid stream to the consumer.
  const output = new PassThrough();
  const child = spawn(tool.command, tool.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderrTail = '';

  const fail = (err: Error): void => {
    output.destroy(err);
    if (child.exitCode === null && child.signalCode === null) child.kill();
    input.destroy();
  };

  child.on('error', (err: NodeJS.ErrnoException) => {
    fail(
      err.code === 'ENOENT'
        ? new MissingToolError(`cannot ${tool.purpose}: "${tool.command}" is not installed`, {
            hint: `install it, e.g. apt-get install ${tool.aptPackage}`,
            cause: err,
          })
        : new UserError(`cannot run ${name}: ${err.message}`, { cause: err }),
    );
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    // Only the end is reported; bounding it keeps a chatty tool from growing memory.
    stderrTail = (stderrTail + text).slice(-2048);
  });
  child.on('close', (code, signal) => {
    if (code === 0) {
      output.end();
      input.destroy();
      return;
    }
    const status = code === null ? `killed by ${signal ?? 'a signal'}` : `exit code ${code}`;
    const detail = stderrTail.trim().split('\n').pop()?.trim();
    fail(new UserError(`${name} failed (${status})${detail ? `: ${detail}` : ''}`, { hint: tool.failureHint }));
  });

  // The tool reports bad input through its exit status; EPIPE on its stdin (it stopped reading)
  // would only hide that message, so stdin errors are left to the 'close' handler.
  child.stdin.on('error', () => {});
  input.on('error', fail);
  input.pipe(child.stdin);
  child.stdout.pipe(output, { end: false });
  // The consumer gave up (or finished): stop the tool instead of letting it run to the end.
  output.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    input.destroy();
  });
  return output;
}

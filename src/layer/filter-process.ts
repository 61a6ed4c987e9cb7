import { spawn, type ChildProcess } from 'node:child_process';
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

export interface RunningTool {
  child: ChildProcess;
  /** Settles once the tool has exited: fulfilled on exit status 0, else rejected with the error a user sees. */
  exited: Promise<void>;
  /** Stops the tool if it still runs. */
  stop: () => void;
}

/**
 * Starts `tool` with `input` piped to its stdin and its stdout to `stdout` ('pipe', or a file
 * descriptor it writes straight into). An error of `input` stops the tool and rejects `exited`.
 */
export function startTool(input: Readable, tool: FilterTool, stdout: 'pipe' | number): RunningTool {
  const name = `${tool.command} ${tool.args.join(' ')}`;
  const child = spawn(tool.command, tool.args, { stdio: ['pipe', stdout, 'pipe'] });
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  };
  let stderrTail = '';
  const exited = new Promise<void>((resolve, reject) => {
    // The first outcome wins: a spawn error is followed by a 'close' that says less.
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new MissingToolError(`cannot ${tool.purpose}: "${tool.command}" is not installed`, {
              hint: `install it, e.g. apt-get install ${tool.aptPackage}`,
              cause: err,
            })
          : new UserError(`cannot run ${name}: ${err.message}`, { cause: err }),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const status = code === null ? `killed by ${signal ?? 'a signal'}` : `exit code ${code}`;
      const detail = stderrTail.trim().split('\n').pop()?.trim();
      reject(new UserError(`${name} failed (${status})${detail ? `: ${detail}` : ''}`, { hint: tool.failureHint }));
    });
    input.on('error', (err) => {
      stop();
      reject(err);
    });
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    // Only the end is reported; bounding it keeps a chatty tool from growing memory.
    stderrTail = (stderrTail + text).slice(-2048);
  });
  // The tool reports bad input through its exit status; EPIPE on its stdin (it stopped reading)
  // would only hide that message, so stdin errors are left to the 'close' handler.
  child.stdin!.on('error', () => {});
  input.pipe(child.stdin!);
  // Once the tool is gone nobody reads the rest of the input.
  void exited.then(
    () => input.destroy(),
    () => {
      stop();
      input.destroy();
    },
  );
  return { child, exited, stop };
}

/**
 * Runs `tool` as a stream filter: `input` to its stdin, its stdout as the returned stream, so
 * memory use stays constant whatever the size. Errors, including a non-zero exit, surface as
 * an error on the returned stream; destroying the returned stream stops the tool.
 */
export function filterThrough(input: Readable, tool: FilterTool): Readable {
  // The output only ends once the tool has exited 0: a tool that dies half-way must not look
  // like a shorter but valid stream to the consumer.
  const output = new PassThrough();
  const { child, exited, stop } = startTool(input, tool, 'pipe');
  exited.then(
    () => output.end(),
    (err: Error) => output.destroy(err),
  );
  child.stdout!.pipe(output, { end: false });
  // The consumer gave up (or finished): stop the tool instead of letting it run to the end.
  output.on('close', () => {
    stop();
    input.destroy();
  });
  return output;
}

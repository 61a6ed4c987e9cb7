import type { Readable } from 'node:stream';
import { UserError } from '../util/errors.js';

/** What one command on a host gave back. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Streamed to the command's stdin, then closed. */
  stdin?: Readable;
  /** Fails the command (and its connection's channel) after this long. */
  timeoutMs?: number;
}

/**
 * A machine the installer drives: over SSH, or this machine itself. Commands are shell text
 * run as root (sudo for other users); output is also appended to the host's log.
 */
export interface Host {
  /** The address as the user gave it (or `local`). */
  readonly address: string;
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}

/** One phase failing on one host: printed as one line, `HOST: PHASE: what`. */
export class HostError extends UserError {
  constructor(
    readonly host: string,
    readonly phase: string,
    what: string,
    hint?: string,
  ) {
    super(`${host}: ${phase}: ${what}`, hint === undefined ? {} : { hint });
    this.name = 'HostError';
  }
}

/** Quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A command line of quoted words. */
export function shellLine(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

/** The last non-empty line of a command's output: the part of an error worth one line. */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.at(-1) ?? '';
}

/** Runs a command and fails with a HostError naming the phase when it exits non-zero, times out or loses its connection. */
export async function run(host: Host, phase: string, command: string, options: ExecOptions & { logHint?: string } = {}): Promise<ExecResult> {
  let result: ExecResult;
  try {
    result = await host.exec(command, options);
  } catch (err) {
    if (err instanceof UserError) throw err;
    // A command that timed out or lost its connection: one line naming the host and phase, not a bug.
    throw new HostError(host.address, phase, (err as Error).message, options.logHint ?? 'check that the host is up and reachable, then run the command again');
  }
  if (result.code !== 0) {
    const why = lastLine(result.stderr) || lastLine(result.stdout) || 'no output';
    throw new HostError(host.address, phase, `exited ${result.code}: ${why}`, options.logHint);
  }
  return result;
}

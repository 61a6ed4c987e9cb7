/**
 * An error meant for the user: one line saying what went wrong and where, plus an optional
 * hint. The CLI prints these without a stack trace; anything else is a bug and shows one
 * under --debug.
 */
export class UserError extends Error {
  readonly hint: string | undefined;
  /** 1 = build/runtime failure, 2 = usage error (docker/buildah convention). */
  readonly exitCode: 1 | 2;

  constructor(message: string, options: { hint?: string; exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** A usage error: bad flag, bad argument. Exit code 2. */
export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, hint === undefined ? { exitCode: 2 } : { hint, exitCode: 2 });
    this.name = 'UsageError';
  }
}

/** Where in a Kubefile something is; line and col are 1-based. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

/** An error tied to a place in a Kubefile: printed as `file:line:col: message`. */
export class KubefileError extends UserError {
  readonly position: SourcePosition;

  constructor(position: SourcePosition, message: string, hint?: string) {
    super(`${position.file}:${position.line}:${position.col}: ${message}`, hint === undefined ? {} : { hint });
    this.name = 'KubefileError';
    this.position = position;
  }
}

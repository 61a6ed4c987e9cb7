export type ProgressMode = 'auto' | 'plain' | 'json' | 'quiet';

export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'plain', 'json', 'quiet'];

/**
 * Where progress goes: plain lines or one JSON event per line, always on stderr so that
 * stdout carries only results (digests, listings) for scripts.
 */
export class Reporter {
  constructor(
    private readonly mode: ProgressMode,
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {}

  step(index: number, total: number, text: string, platform?: string): void {
    const where = platform ? ` [${platform}]` : '';
    this.emit({ event: 'step', index, total, text, ...(platform ? { platform } : {}) }, `STEP ${index}/${total}${where}: ${text}`);
  }

  info(message: string, fields: Record<string, unknown> = {}): void {
    this.emit({ event: 'info', message, ...fields }, message);
  }

  /** Warnings show even in quiet mode: they are about the user's input. */
  warn(message: string): void {
    if (this.mode === 'json') this.write(JSON.stringify({ event: 'warning', message }));
    else this.write(`WARNING: ${message}`);
  }

  private emit(event: Record<string, unknown>, line: string): void {
    if (this.mode === 'quiet') return;
    this.write(this.mode === 'json' ? JSON.stringify(event) : line);
  }
}

export type ProgressMode = 'auto' | 'plain' | 'json' | 'quiet';

export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'plain', 'json', 'quiet'];

/** One blob moving to or from a registry. */
export interface Transfer {
  /** Bytes moved since the last call. */
  add(bytes: number): void;
  /** How it ended: `done`, `uploaded`, `exists`, `mounted`. */
  end(state: string): void;
}

interface Terminal {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

const REDRAW_MS = 100;

/**
 * Where progress goes, always stderr, so that stdout carries only results (digests,
 * listings) for scripts. `plain` writes lines; `json` one event per line; `auto` is plain
 * but, on a terminal, keeps one live line with the bytes of blobs in flight; `quiet` keeps
 * only warnings.
 */
export class Reporter {
  private readonly live: boolean;
  private readonly transfers = new Map<string, { size: number; moved: number }>();
  private liveShown = false;
  private lastDraw = 0;

  constructor(
    private readonly mode: ProgressMode,
    private readonly out: Terminal = process.stderr,
  ) {
    this.live = mode === 'auto' && out.isTTY === true;
  }

  step(index: number, total: number, text: string, platform?: string): void {
    const where = platform ? ` [${platform}]` : '';
    this.emit({ event: 'step', index, total, text, ...(platform ? { platform } : {}) }, `STEP ${index}/${total}${where}: ${text}`);
  }

  info(message: string, fields: Record<string, unknown> = {}): void {
    this.emit({ event: 'info', message, ...fields }, message);
  }

  /** Warnings show even in quiet mode: they are about the user's input. */
  warn(message: string): void {
    this.line(this.mode === 'json' ? JSON.stringify({ event: 'warning', message }) : `WARNING: ${message}`);
  }

  /** Starts a blob transfer: a line when it starts and ends, and bytes on a live line. */
  transfer(digest: string, size: number, verb: string): Transfer {
    const short = digest.replace(/^sha256:/, '').slice(0, 12);
    this.emit({ event: 'blob', digest, size, state: 'start' }, `  ${verb} blob ${short} (${formatBytes(size)})`);
    const entry = { size, moved: 0 };
    this.transfers.set(digest, entry);
    return {
      add: (bytes) => {
        entry.moved += bytes;
        if (this.live && Date.now() - this.lastDraw > REDRAW_MS) this.draw();
      },
      end: (state) => {
        this.transfers.delete(digest);
        this.emit({ event: 'blob', digest, size, state }, `  blob ${short} ${state}`);
      },
    };
  }

  private emit(event: Record<string, unknown>, line: string): void {
    if (this.mode === 'quiet') return;
    this.line(this.mode === 'json' ? JSON.stringify(event) : line);
  }

  private line(text: string): void {
    if (this.liveShown) this.out.write('\r\x1b[K');
    this.out.write(`${text}\n`);
    this.liveShown = false;
    if (this.live && this.transfers.size > 0) this.draw();
  }

  private draw(): void {
    this.lastDraw = Date.now();
    let size = 0;
    let moved = 0;
    for (const t of this.transfers.values()) {
      size += t.size;
      moved += t.moved;
    }
    const width = 30;
    const filled = size > 0 ? Math.min(width, Math.round((moved / size) * width)) : width;
    const text = `  [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${formatBytes(moved)} / ${formatBytes(size)}, ${this.transfers.size} blob${this.transfers.size === 1 ? '' : 's'}`;
    this.out.write(`\r\x1b[K${text.slice(0, Math.max(20, (this.out.columns ?? 80) - 1))}`);
    this.liveShown = true;
  }
}

/** Sizes as docker prints them (decimal units). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'json' | 'quiet';

export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'tty', 'plain', 'json', 'quiet'];

/** Bytes moving: a blob to or from a registry, or a layer being written. */
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

/** One step of a build, as the live view shows it. */
interface Step {
  label: string;
  text: string;
  started: number;
  ended?: number;
  cached?: boolean;
  /** The layer's size once written. */
  size?: number;
  /** Bytes of the layer being written: done / total. */
  writing?: { done: number; total: number };
}

interface Moving {
  label: string;
  size: number;
  moved: number;
  started: number;
}

const REDRAW_MS = 100;
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** Transfers this big get a rate and an ETA. */
const BIG = 10_000_000;

/**
 * Where progress goes, always stderr, so that stdout carries only results (digests,
 * listings) for scripts. `plain` writes lines (steps, layers with their size and time);
 * `json` one event per line; `tty` (what `auto` is on a terminal) a live view as BuildKit
 * draws it: finished steps scroll up with their time, the running step and the bytes in
 * flight are redrawn in place below them; `quiet` keeps only warnings.
 */
export class Reporter {
  private readonly mode: Exclude<ProgressMode, 'auto'>;
  private readonly colour: boolean;
  private readonly started = Date.now();
  private current: Step | undefined;
  private readonly moving = new Map<string, Moving>();
  /** Lines of the live area on screen now. */
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private steps = 0;

  constructor(
    mode: ProgressMode,
    private readonly out: Terminal = process.stderr,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.mode = mode === 'auto' ? (out.isTTY === true ? 'tty' : 'plain') : mode;
    // https://no-color.org: any non-empty NO_COLOR turns colours off.
    this.colour = this.mode === 'tty' && out.isTTY === true && !env.NO_COLOR;
  }

  step(index: number, total: number, text: string, platform?: string): void {
    const where = platform ? ` [${platform}]` : '';
    if (this.mode === 'tty') this.endStep();
    this.steps++;
    this.current = { label: `[${platform ? `${platform} ` : ''}${index}/${total}]`, text, started: Date.now() };
    if (this.mode === 'tty') return this.redraw();
    this.emit({ event: 'step', index, total, text, ...(platform ? { platform } : {}) }, `STEP ${index}/${total}${where}: ${text}`);
  }

  /** The running step's layer came from the cache. */
  cached(digest: string): void {
    if (this.mode === 'tty' && this.current) {
      this.current.cached = true;
      return this.endStep();
    }
    this.emit({ event: 'info', message: `  CACHED ${short(digest)}`, cached: true, digest }, `  CACHED ${short(digest)}`);
  }

  /** The running step's layer is about to be written from `total` bytes of files: its progress, for the live view only. */
  layer(total: number): Transfer | undefined {
    const step = this.current;
    if (this.mode !== 'tty' || !step) return undefined;
    step.writing = { done: 0, total };
    return {
      add: (bytes) => {
        step.writing!.done += bytes;
      },
      end: () => {
        delete step.writing;
      },
    };
  }

  /** The running step's layer was written. */
  layerWritten(digest: string, size: number): void {
    const step = this.current;
    if (this.mode === 'tty' && step) {
      step.size = size;
      return this.endStep();
    }
    const took = step ? ` in ${seconds(Date.now() - step.started)}` : '';
    this.emit({ event: 'info', message: `  layer ${short(digest)} ${formatBytes(size)}`, digest, size }, `  layer ${short(digest)} ${formatBytes(size)}${took}`);
  }

  /** A line a RUN command printed. */
  output(line: string): void {
    this.emit({ event: 'info', message: `  | ${line}`, output: line }, `  | ${line}`);
  }

  info(message: string, fields: Record<string, unknown> = {}): void {
    if (this.mode === 'tty') this.endStep();
    this.emit({ event: 'info', message, ...fields }, message);
  }

  /** Warnings show even in quiet mode: they are about the user's input. */
  warn(message: string): void {
    this.line(this.mode === 'json' ? JSON.stringify({ event: 'warning', message }) : this.paint('33', `WARNING: ${message}`));
  }

  /** The end of a command's work: the last step closes and, on a terminal, the total time shows. */
  finish(message: string): void {
    if (this.mode === 'tty') {
      this.endStep();
      this.stopTimer();
      this.line(this.paint('1', `[+] ${message} in ${seconds(Date.now() - this.started)} (${this.steps} steps)`));
      return;
    }
    this.emit({ event: 'info', message, durationMs: Date.now() - this.started }, `${message} in ${seconds(Date.now() - this.started)}`);
  }

  /** Starts a blob transfer: a line when it starts and ends, and its bytes on the live view. */
  transfer(digest: string, size: number, verb: string): Transfer {
    this.emit({ event: 'blob', digest, size, state: 'start' }, `  ${verb} blob ${short(digest)} (${formatBytes(size)})`);
    const entry: Moving = { label: `${verb} blob ${short(digest)}`, size, moved: 0, started: Date.now() };
    this.moving.set(digest, entry);
    if (this.mode === 'tty') this.redraw();
    return {
      add: (bytes) => {
        entry.moved += bytes;
      },
      end: (state) => {
        this.moving.delete(digest);
        this.emit({ event: 'blob', digest, size, state }, `  blob ${short(digest)} ${state}`);
        if (this.mode === 'tty') this.redraw();
      },
    };
  }

  private endStep(): void {
    const step = this.current;
    if (!step) return;
    this.current = undefined;
    step.ended = Date.now();
    const size = step.size !== undefined ? `  ${formatBytes(step.size)}` : '';
    const text = `${step.cached ? `${this.paint('36', 'CACHED')} ` : ''}${step.label} ${step.text}`;
    this.line(`${this.paint('34', '=>')} ${this.fit(text, `${size}  ${seconds(step.ended - step.started)}`)}`);
  }

  private emit(event: Record<string, unknown>, line: string): void {
    if (this.mode === 'quiet') return;
    if (this.mode === 'tty' && event.event === 'blob') return;
    this.line(this.mode === 'json' ? JSON.stringify(event) : line);
  }

  /** A line that stays: above the live area on a terminal. */
  private line(text: string): void {
    this.clear();
    this.out.write(`${text}\n`);
    if (this.mode === 'tty') this.redraw();
  }

  private clear(): void {
    if (this.drawn === 0) return;
    // Up to the live area's first line, then erase to the end of the screen.
    this.out.write(`\r${this.drawn > 1 ? `\x1b[${this.drawn - 1}A` : ''}\x1b[J`);
    this.drawn = 0;
  }

  private redraw(): void {
    const lines = this.liveLines();
    this.clear();
    if (lines.length === 0) return this.stopTimer();
    this.out.write(lines.join('\n'));
    this.drawn = lines.length;
    // The spinner and the clocks move between events too; unref: a finished command never waits for it.
    this.timer ??= setInterval(() => this.redraw(), REDRAW_MS).unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private liveLines(): string[] {
    const lines: string[] = [];
    const spin = SPINNER[this.frame++ % SPINNER.length]!;
    const step = this.current;
    if (step) {
      const elapsed = Date.now() - step.started;
      const bytes = step.writing ? `  ${progress(step.writing.done, step.writing.total, elapsed)}` : '';
      lines.push(`${this.paint('34', '=>')} ${this.fit(`${step.label} ${step.text}`, `${bytes}  ${spin} ${seconds(elapsed)}`)}`);
    }
    for (const m of this.moving.values()) lines.push(`   ${this.fit(m.label, `  ${bar(m.moved, m.size)} ${progress(m.moved, m.size, Date.now() - m.started)}  ${spin}`)}`);
    return lines;
  }

  /** `left` cut to leave room for `right` on one terminal line, `right` flush right. */
  private fit(left: string, right: string): string {
    const width = Math.max(40, (this.out.columns ?? 80) - 1);
    const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
    const room = width - visible(right);
    let shown = left;
    if (visible(shown) > room) shown = `${left.slice(0, Math.max(0, room - 1 - (left.length - visible(left))))}…`;
    return `${shown}${' '.repeat(Math.max(1, room - visible(shown)))}${right}`;
  }

  private paint(code: string, text: string): string {
    return this.colour ? `\x1b[${code}m${text}\x1b[0m` : text;
  }
}

function short(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** `45.2 MB / 135 MB`, with the rate and time left for big ones. */
function progress(done: number, total: number, elapsedMs: number): string {
  // A tar is a little bigger than its files: never show more done than there is.
  const shown = Math.min(done, total);
  let text = `${formatBytes(shown)} / ${formatBytes(total)}`;
  if (total >= BIG && elapsedMs >= 1000 && shown > 0 && shown < total) {
    const rate = shown / (elapsedMs / 1000);
    text += `  ${formatBytes(rate)}/s  ETA ${seconds(((total - shown) / rate) * 1000)}`;
  }
  return text;
}

function bar(done: number, total: number): string {
  const width = 20;
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : width;
  return `[${'='.repeat(filled)}${' '.repeat(width - filled)}]`;
}

/** `0.3s`, `12.0s`, `2m05s`. */
export function seconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
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
  return `${unit === 0 ? Math.round(value) : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

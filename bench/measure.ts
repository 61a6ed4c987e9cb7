import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';

export interface Measurement {
  /** Wall-clock seconds. */
  seconds: number;
  /** Peak resident set size in MiB, as `/usr/bin/time -v` reports it. */
  peakRssMiB: number;
}

/** A measurement with CPU time too: unlike wall time, it barely moves when the machine is busy. */
export interface Timed extends Measurement {
  /** User plus system CPU seconds of the process and the children it waited for. */
  cpuSeconds: number;
}

/**
 * Runs `command args` under `/usr/bin/time -v` and returns its wall time, CPU time and peak RSS. Linux
 * reports the largest RSS of the process and the children it waited for (not their sum), so a
 * helper process such as zstd counts only if it is bigger. stdout goes to `stdoutFile` (or
 * nowhere); a non-zero exit throws with the end of stderr.
 */
export async function measure(command: string, args: string[], options: { stdoutFile?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Timed> {
  const out = options.stdoutFile === undefined ? undefined : await open(options.stdoutFile, 'w');
  try {
    const started = process.hrtime.bigint();
    const stderr = await new Promise<string>((resolve, reject) => {
      const child = spawn('/usr/bin/time', ['-v', command, ...args], {
        stdio: ['ignore', out?.fd ?? 'ignore', 'pipe'],
        env: options.env ?? process.env,
      });
      let text = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${text.slice(-2000)}`))));
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const rssKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1]);
    if (!(rssKiB > 0)) throw new Error(`no peak RSS in /usr/bin/time output:\n${stderr.slice(-2000)}`);
    const cpu = (label: string): number => Number(new RegExp(`${label} time \\(seconds\\): ([\\d.]+)`).exec(stderr)?.[1] ?? Number.NaN);
    return { seconds, peakRssMiB: rssKiB / 1024, cpuSeconds: cpu('User') + cpu('System') };
  } finally {
    await out?.close();
  }
}

/** Two steps measured as one: times add up, peak RSS is the larger. */
export function combine(a: Timed, b: Timed): Timed {
  return { seconds: a.seconds + b.seconds, peakRssMiB: Math.max(a.peakRssMiB, b.peakRssMiB), cpuSeconds: a.cpuSeconds + b.cpuSeconds };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

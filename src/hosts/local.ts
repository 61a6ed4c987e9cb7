import { spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { ExecOptions, ExecResult, Host } from './host.js';

/** This machine as a cluster host (single-node installs without SSH); needs root. */
export class LocalHost implements Host {
  readonly address = 'local';
  private readonly log: WriteStream;

  constructor(logFile: string) {
    this.log = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    this.log.write(`[${new Date().toISOString()}] $ ${command}\n`);
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', command], { stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], timeout: options.timeoutMs });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => {
        this.log.write(d);
        stdout += d.toString();
      });
      child.stderr!.on('data', (d: Buffer) => {
        this.log.write(d);
        stderr += d.toString();
      });
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code: code ?? -1, stdout, stderr: signal ? `${stderr}\nkilled by ${signal}` : stderr }));
      if (options.stdin) {
        options.stdin.on('error', (e) => {
          child.kill();
          reject(e);
        });
        options.stdin.pipe(child.stdin!);
      }
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.log.end(resolve));
  }
}

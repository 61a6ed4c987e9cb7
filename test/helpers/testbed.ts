import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './cli.js';

/** scripts/testbed.sh: test hosts as namespaces with a real sshd (docs/testbed.md). */
export const TESTBED_SCRIPT = join(REPO, 'scripts', 'testbed.sh');

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * One test bed: its name prefixes every namespace, bridge and veth it makes, its network is
 * the first three octets of a /24 in 198.18.0.0/15. Two test files running at once must use
 * different names and networks.
 */
export class TestBed {
  readonly stateDir: string;

  readonly name: string;
  readonly net: string;

  /**
   * TESTBED_SLOT=N (1-9) moves this test bed to name+N and 198.19.(third octet + 10*N), so two
   * checkouts on one machine can run the same test file at once without meeting.
   */
  constructor(name: string, net: string) {
    const slot = Number(process.env.TESTBED_SLOT ?? 0);
    if (!Number.isInteger(slot) || slot < 0 || slot > 9) throw new Error(`TESTBED_SLOT must be 0-9, got ${process.env.TESTBED_SLOT}`);
    const [a, b, c] = net.split('.');
    this.name = slot === 0 ? name : `${name}${slot}`;
    this.net = slot === 0 ? net : `${a}.${Number(b) + 1}.${Number(c) + 10 * slot}`;
    this.stateDir = `/run/sealbuild-testbed/${this.name}`;
  }

  /** The root key pair every host accepts. */
  get privateKey(): string {
    return join(this.stateDir, 'id_ed25519');
  }

  /** known_hosts lines for every host (written by up). */
  get knownHosts(): string {
    return join(this.stateDir, 'known_hosts');
  }

  /** root's password on every host. */
  readonly password = 'sealbuild-testbed';

  /** Creates hosts 1..n (those already up are kept) and returns their addresses. */
  async up(n: number): Promise<string[]> {
    if (process.getuid?.() !== 0) throw new Error('the test bed needs root (network and mount namespaces): run the tests as root');
    const result = await this.script(['up', String(n)]);
    if (result.code !== 0) throw new Error(`testbed.sh up ${n} exited ${result.code}: ${result.stderr}`);
    return result.stdout.trim().split('\n');
  }

  /** Removes every host, the bridge and the state of this test bed. */
  async down(): Promise<void> {
    const result = await this.script(['down']);
    if (result.code !== 0) throw new Error(`testbed.sh down exited ${result.code}: ${result.stderr}`);
  }

  /** Runs a command as root inside host i; never throws on a non-zero exit. */
  exec(i: number, command: string[], input?: string | Buffer): Promise<ExecResult> {
    return this.script(['exec', String(i), ...command], input);
  }

  /** Runs `sh -c SCRIPT` inside host i and returns its stdout; throws with the output on failure. */
  async sh(i: number, script: string): Promise<string> {
    const result = await this.exec(i, ['sh', '-c', script]);
    if (result.code !== 0) throw new Error(`host ${i}: \`${script}\` exited ${result.code}: ${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  /** The flags that let sealbuild reach every host as root: the bed's key and known_hosts. */
  access(): string[] {
    return ['--pk', this.privateKey, '--known-hosts', this.knownHosts];
  }

  /** A listing of what install and reset touch on host i: paths under /etc, /var, /usr/local and /opt, and sizes of files. */
  listing(i: number): Promise<string> {
    return this.sh(i, "find /etc /var /usr/local /opt -xdev \\( -type d -printf '%p/\\n' \\) -o -printf '%p %s\\n' | sort");
  }

  /** Host i's address. */
  ip(i: number): string {
    return `${this.net}.${i}`;
  }

  private script(args: string[], input?: string | Buffer): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', [TESTBED_SCRIPT, ...args], {
        env: { ...process.env, TESTBED: this.name, TESTBED_NET: this.net },
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      if (input !== undefined) child.stdin?.end(input);
    });
  }
}

/** What differs between two listings: lines only in `now` (+) and only in `was` (-). */
export function difference(was: string, now: string): string[] {
  const a = new Set(was.split('\n'));
  const b = new Set(now.split('\n'));
  return [...[...b].filter((l) => !a.has(l)).map((l) => `+ ${l}`), ...[...a].filter((l) => !b.has(l)).map((l) => `- ${l}`)];
}

/** `read()` once it matches every pattern, or as it is after `seconds`. */
export async function whenMatching(read: () => Promise<string>, patterns: RegExp[], seconds = 60): Promise<string> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const text = await read();
    if (patterns.every((p) => p.test(text)) || Date.now() > deadline) return text;
    await new Promise((r) => setTimeout(r, 500));
  }
}

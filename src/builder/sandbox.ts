import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { UserError } from '../util/errors.js';
import { findExecutable, overlayCommand, type OverlayDirs, type OverlayTools } from './overlay.js';
import type { NetworkMode, SandboxOptions } from './sandbox-options.js';

export interface CommandResult {
  /** The exit code, or undefined when a signal ended the command. */
  code: number | undefined;
  signal: NodeJS.Signals | undefined;
  /** The last lines of its output (stdout and stderr), for the error message. */
  tail: string[];
}

export interface RunCommand {
  argv: string[];
  /** The working directory: the stage's rootfs; the only writable host path under bwrap. */
  dir: string;
  /** Mount an overlayfs of these at `dir` first (in a mount namespace of the command's own). */
  overlay?: { tools: OverlayTools; dirs: OverlayDirs };
  /** The complete environment: nothing of sealbuild's own leaks in. */
  env: Record<string, string>;
  /** Under --isolation none: HOME and TMPDIR (bwrap gives the command a private /tmp instead). */
  scratch: string;
  /** The store's root: hidden from a sandboxed command (it holds credentials and clusters' join tokens). */
  storeRoot: string;
  /** Each line the command prints, as it prints it. */
  onLine: (line: string) => void;
}

const TAIL_LINES = 5;
/** Longer lines are cut: a command printing megabytes without a newline must not fill memory. */
const MAX_LINE = 2000;
const BWRAP_HINT = 'install it with `apt-get install -y bubblewrap`, or pass --isolation none to run RUN steps without a sandbox';

let bwrapProbe: Promise<string> | undefined;

/**
 * Fails with one clear line when bubblewrap is missing or cannot make a sandbox here (no
 * user namespaces for an unprivileged user). Never falls back to running unsandboxed:
 * the user asked for isolation, or got it by default.
 */
export function checkBwrap(): Promise<string> {
  bwrapProbe ??= findBwrap().then((bwrap) => new Promise<string>((resolve, reject) => {
    const child = spawn(bwrap, [...bwrapArgs('/', 'host', []), 'true'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(bwrap);
      else reject(new UserError(`bubblewrap cannot create a sandbox on this machine: ${stderr.trim().split('\n').pop() ?? `exit code ${code}`}`, {
        hint: 'run as root or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), or pass --isolation none',
      }));
    });
  }));
  return bwrapProbe;
}

async function findBwrap(): Promise<string> {
  const bwrap = await findExecutable('bwrap');
  if (bwrap === undefined) throw new UserError('RUN needs bubblewrap (bwrap), which is not installed', { hint: BWRAP_HINT });
  return bwrap;
}

/**
 * Host directories a RUN command never sees (empty in its sandbox): users' homes and runtime
 * directories hold their registry credentials and keys, which a RUN could otherwise copy into
 * an image that gets pushed. The store's root is hidden too (given per command).
 */
const HIDDEN_DIRS = ['/root', '/home', '/run/user'];

/**
 * bwrap's arguments: the host read-only, then fresh /dev, /proc and /tmp over it and empty
 * directories over `hidden` (those that exist), then the rootfs bound writable at its own path
 * (after them, so a rootfs inside one stays visible). No capabilities, root or not: with them
 * a command run as root could remount / writable and write to the host. Without root, a user
 * namespace maps the build user to root, as a rootless container does.
 */
function bwrapArgs(dir: string, network: NetworkMode, hidden: readonly string[]): string[] {
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
  for (const path of hidden) if (existsSync(path)) args.push('--tmpfs', path);
  if (dir !== '/') args.push('--bind', dir, dir);
  args.push('--chdir', dir, '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--new-session', '--die-with-parent', '--cap-drop', 'ALL');
  if (network === 'none') args.push('--unshare-net');
  if (process.getuid?.() !== 0) args.push('--unshare-user', '--uid', '0', '--gid', '0');
  return args;
}

/** Runs a RUN command; resolves with how it ended (a non-zero exit is the caller's to report). */
export async function runCommand(command: RunCommand, options: SandboxOptions): Promise<CommandResult> {
  let file: string;
  let args: string[];
  const env = { ...command.env };
  // One pipe for stdout and stderr keeps their lines in the order the command wrote them.
  const merged = ['/bin/sh', '-c', 'exec "$@" 2>&1', 'sh', ...command.argv];
  if (options.isolation === 'bwrap') {
    file = await checkBwrap();
    args = [...bwrapArgs(command.dir, options.network, [...HIDDEN_DIRS, command.storeRoot]), '--', ...merged];
    env.HOME ??= '/tmp';
  } else {
    [file, ...args] = merged as [string, ...string[]];
    env.HOME ??= command.scratch;
    env.TMPDIR ??= command.scratch;
  }
  if (command.overlay !== undefined) [file, ...args] = overlayCommand(command.overlay.tools, command.overlay.dirs, command.dir, [file, ...args]) as [string, ...string[]];
  const child = spawn(file, args, { cwd: command.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    command.onLine(line);
  };
  const done = Promise.all([readLines(child.stdout, onLine), readLines(child.stderr, onLine)]);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err);
    });
    child.on('close', (c, s) => resolve([c, s]));
  });
  await done;
  return { code: code ?? undefined, signal: signal ?? undefined, tail };
}

/** Splits a stream into lines (the last one may lack its newline), each cut at MAX_LINE. */
async function readLines(stream: Readable, onLine: (line: string) => void): Promise<void> {
  let partial = '';
  for await (const chunk of stream) {
    const lines = (partial + (chunk as Buffer).toString('utf8')).split('\n');
    partial = lines.pop()!.slice(0, MAX_LINE);
    for (const line of lines) onLine(line.slice(0, MAX_LINE));
  }
  if (partial !== '') onLine(partial);
}

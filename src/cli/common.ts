import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { normalizeReference } from '../oci/reference.js';
import type { Registries } from '../registry/registries.js';
import { Store, defaultRoot } from '../store/store.js';
import { UsageError } from '../util/errors.js';
import { PROGRESS_MODES, Reporter, type ProgressMode } from '../util/reporter.js';

export interface GlobalOptions {
  root?: string;
  progress: ProgressMode;
  debug?: boolean;
  tlsVerify: boolean;
  certDir?: string;
  timeout?: number;
}

/** The options given to the program itself (`--root`, `--progress`), from any subcommand. */
export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** The store; `{ create: false }` for commands that only read it (none is created for them). */
export async function openStore(command: Command, options: { create?: boolean } = {}): Promise<Store> {
  return Store.open(storeRoot(command), options);
}

/** Where the store is (`--root`, SEALBUILD_ROOT or the default), without opening it. */
export function storeRoot(command: Command): string {
  return globalOptions(command).root ?? defaultRoot();
}

/** Registry connections with the user's TLS settings; the caller closes them. */
export async function registriesFor(command: Command): Promise<Registries> {
  const { tlsVerify, certDir, timeout } = globalOptions(command);
  // Loaded on demand: the HTTP stack is the largest import and most commands need none.
  const { Registries } = await import('../registry/registries.js');
  return new Registries({ tlsVerify, ...(certDir === undefined ? {} : { certDir }), ...(timeout === undefined ? {} : { timeoutMs: timeout * 1000 }) });
}

/** Runs `use` with the registry clients the command's flags ask for, closed when it ends. */
export async function withRegistries<T>(command: Command, use: (registries: Registries) => Promise<T>): Promise<T> {
  const registries = await registriesFor(command);
  try {
    return await use(registries);
  } finally {
    await registries.close();
  }
}

export function reporterFor(command: Command): Reporter {
  const mode = globalOptions(command).progress;
  if (!PROGRESS_MODES.includes(mode)) throw new UsageError(`--progress: unknown mode "${mode}"`, `use one of ${PROGRESS_MODES.join(', ')}`);
  return new Reporter(mode);
}

/** Normalises a reference given on the command line (usage error when malformed). */
export function refArg(text: string): string {
  return normalizeReference(text);
}

/** Collects a repeatable option into an array (commander's accumulator). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Parses repeated `K=V` flags; `K` alone takes the value from the environment, as docker does. */
export function keyValues(values: string[], flag: string, options: { fromEnv: boolean; keyPattern?: RegExp }): Map<string, string> {
  const result = new Map<string, string>();
  for (const raw of values) {
    const eq = raw.indexOf('=');
    const key = eq < 0 ? raw : raw.slice(0, eq);
    if (key === '' || (options.keyPattern && !options.keyPattern.test(key))) {
      throw new UsageError(`${flag} "${raw}": "${key}" is not a valid name`, `write ${flag} NAME=VALUE`);
    }
    if (eq >= 0) result.set(key, raw.slice(eq + 1));
    else if (!options.fromEnv) throw new UsageError(`${flag} "${raw}" has no value`, `write ${flag} ${key}=VALUE`);
    else if (process.env[key] !== undefined) result.set(key, process.env[key]!);
  }
  return result;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Fails at once when a flag's output file cannot be written (a directory, or in a directory
 * that does not exist): before the work whose result it records, not after the tags moved.
 */
export async function checkOutputFile(flag: string, path: string | undefined): Promise<void> {
  if (path === undefined) return;
  if ((await stat(path).catch(() => undefined))?.isDirectory()) throw new UsageError(`${flag} ${path} is a directory`, 'give the path of a file to write');
  const dir = dirname(resolve(path));
  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) throw new UsageError(`${flag} ${path}: ${dir} is not a directory`, 'create the directory first, or give another path');
}

/** A secret piped in (`--password-stdin`): standard input to its end, without the last newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString().replace(/\r?\n$/, '');
}

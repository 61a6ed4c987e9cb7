import { UsageError } from '../util/errors.js';

// Parsers of the program's own option values: main.ts loads them before any command, so this
// module imports nothing heavy.

/** `--tls-verify`, `--tls-verify=true|false`, as podman and buildah spell it. */
export function parseBool(flag: string): (value: string) => boolean {
  return (value) => {
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    throw new UsageError(`${flag}: "${value}" is not true or false`, `write ${flag}=false or ${flag}=true`);
  };
}

/** `--timeout SECONDS`: a positive number. */
export function parseSeconds(flag: string): (value: string) => number {
  return (value) => {
    const seconds = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || !(seconds > 0)) throw new UsageError(`${flag}: "${value}" is not a number of seconds`, `write ${flag} 30`);
    return seconds;
  };
}

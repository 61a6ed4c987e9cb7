import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Where scripts/setup.sh installs the peers it builds with Go (helm, crane, oras, cosign, and
 * test/tools/sigstore-verify: containers/image's policy check; test/tools/referrers-registry: a
 * registry with the referrers API). A fixed
 * directory, not PATH: tests choose per test whether helm is visible to sealbuild.
 */
export const GO_TOOLS_BIN = '/opt/sealbuild-tools/bin';

/** The path of a Go-built peer; fails the test with the command that installs it. */
export function goTool(name: 'helm' | 'crane' | 'oras' | 'sigstore-verify' | 'cosign' | 'referrers-registry'): string {
  const path = join(GO_TOOLS_BIN, name);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${name} is not installed in ${GO_TOOLS_BIN}: run \`bash scripts/setup.sh\` (it builds helm, crane, oras and cosign with go install)`);
  }
  return path;
}

/** PATH with every directory that holds `command` removed: sealbuild then runs as on a machine without it. */
export function pathWithout(command: string): string {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => {
      try {
        accessSync(join(dir, command), constants.X_OK);
        return false;
      } catch {
        return true;
      }
    })
    .join(delimiter);
}

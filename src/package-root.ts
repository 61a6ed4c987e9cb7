import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory holding sealbuild's package.json, basefs/ and templates/: the nearest one above
 * this module. Compiled modules (dist/src/…) and the bundle (dist/cli/) sit at different depths.
 */
function findPackageRoot(from: string): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sealbuild') return dir;
    } catch {
      // no package.json here: keep climbing
    }
    if (dirname(dir) === dir) throw new Error(`sealbuild's package.json is not above ${from}: the installation is incomplete`);
  }
}

export const PACKAGE_ROOT = findPackageRoot(fileURLToPath(import.meta.url));

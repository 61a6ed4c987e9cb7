// Runs first in the single executable (scripts/build-sea.mjs puts it above the CommonJS
// bundle). The executable carries basefs/, templates/, package.json and the worker threads'
// script as one asset; they are written once to a directory named by the asset's digest, and
// the bundle's `import.meta.url` points into it, so PACKAGE_ROOT (src/package-root.ts) and the
// worker URL (src/util/byte-threads.ts) find real files there, as they do next to dist/cli/ in
// the package. The digest is the asset `payload-sha256`, computed when the executable was
// built: a start with the files already written reads neither the payload nor node:crypto
// (loading crypto was a tenth of a `--version` run's profile). The payload is checked against
// the digest once, when it is written out.
// Only Node's own modules can be required here (a single executable has no node_modules).
const __sealbuildMetaUrl = (() => {
  const fs = require('node:fs');
  const { homedir, tmpdir } = require('node:os');
  const { dirname, join } = require('node:path');
  const { pathToFileURL } = require('node:url');
  const sea = require('node:sea');
  const digest = sea.getAsset('payload-sha256', 'utf8');
  const name = `sea-${digest.slice(0, 16)}`;
  const extractTo = (base) => {
    const dir = join(base, 'sealbuild', name);
    if (fs.existsSync(join(dir, 'package.json'))) return dir;
    const payload = sea.getAsset('payload', 'utf8');
    if (require('node:crypto').createHash('sha256').update(payload).digest('hex') !== digest) {
      throw new Error('this sealbuild executable is damaged: its files do not match their digest (hint: download or build it again)');
    }
    // Written beside, then renamed into place: a run that stops halfway leaves no partial tree.
    const staging = `${dir}.tmp-${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    for (const [path, { mode, base64 }] of Object.entries(JSON.parse(payload))) {
      fs.mkdirSync(dirname(join(staging, path)), { recursive: true });
      fs.writeFileSync(join(staging, path), Buffer.from(base64, 'base64'), { mode });
    }
    try {
      fs.renameSync(staging, dir);
    } catch (err) {
      // Another run put it there first: theirs is the same content.
      fs.rmSync(staging, { recursive: true, force: true });
      if (!fs.existsSync(join(dir, 'package.json'))) throw err;
    }
    return dir;
  };
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  let dir;
  try {
    dir = extractTo(cache);
  } catch (err) {
    if (err.message.startsWith('this sealbuild executable is damaged')) throw err;
    // A read-only home (an admin host's service account): the temporary directory will do.
    dir = extractTo(tmpdir());
  }
  return pathToFileURL(join(dir, 'sealbuild.cjs')).href;
})();

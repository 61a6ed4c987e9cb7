import { posix } from 'node:path';

/*
 * OCI whiteouts (image-spec layer.md, "Whiteouts"): an entry `.wh.NAME` deletes NAME as lower
 * layers left it; an entry `.wh..wh..opq` in a directory hides everything lower layers put in
 * that directory. extract.ts applies them, diff.ts writes them, the layer view (runtime/
 * layer-view.ts) reads them: all from here.
 */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/** What the entry at `path` (clean, relative) deletes, if it is a whiteout. */
export function whiteoutOf(path: string): { opaque: string } | { removed: string } | undefined {
  const base = posix.basename(path);
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
  return base === OPAQUE_MARKER ? { opaque: dir } : { removed: posix.join(dir, base.slice(WHITEOUT_PREFIX.length)) };
}

let loaded: Promise<typeof import('undici')> | undefined;

/**
 * undici, loaded on the first request: it is the largest import sealbuild has, and a build
 * creates its registry connections up front but rarely talks to a registry (a no-op rebuild
 * never does), so a static import would cost every build its load time.
 */
export function undici(): Promise<typeof import('undici')> {
  // undici is CommonJS: Node's import() also names its exports, the bundle's only has the
  // default (module.exports), which both have.
  loaded ??= import('undici').then((m) => (m as unknown as { default?: typeof m }).default ?? m);
  return loaded;
}

import type { Digest } from '../oci/digest.js';
import { withDigests, type LayerEntry } from '../layer/tar-writer.js';
import { mapLimit } from '../util/limit.js';
import type { StatCache } from './cache.js';
import { EntryCollector } from './collect.js';
import type { ContextSource } from './context.js';
import type { UrlSource } from './url-source.js';

/** A source resolved for COPY/ADD/APP: a file or directory, or a URL (downloaded or to download). */
export type Source = { src: ContextSource } | UrlSource;

/** Concurrent hashing of files the stat cache does not know. */
const HASH_CONCURRENCY = 16;

/**
 * What a COPY/ADD/APP step's sources contribute to its cache key: every file, directory and
 * link they hold (after the ignore files), with mode, size, link target and content digest.
 * Digests come from the stat cache, so unchanged files are not read. The destination is not
 * here: it is in the step, and how it lands on the filesystem so far is in the parent key.
 *
 * A file the stat cache does not know is hashed before the layer is made, so that the key
 * can be looked up, unless the step is `deferred` (no layer can be found for it: see
 * LayerCache.knowsStep). Then writing the layer learns each digest as it reads the file
 * (each file read once), and the key is complete after the layer.
 */
export class StepInputs {
  private readonly bySource = new Map<string, Digest>();

  private constructor(
    private readonly sources: unknown[],
    private readonly entries: LayerEntry[],
    private readonly digests: (Digest | undefined)[],
    private readonly collector: EntryCollector,
    private readonly statCache: StatCache,
  ) {
    for (const [i, e] of entries.entries()) if (digests[i] !== undefined) this.bySource.set(e.source!, digests[i]);
  }

  static async collect(resolved: readonly Source[], options: { statCache: StatCache; ignored: (rel: string) => boolean; deferred: boolean }): Promise<StepInputs> {
    const collector = new EntryCollector({ uid: 0, gid: 0, ignored: options.ignored, warn: () => undefined });
    const sources: unknown[] = [];
    for (const [i, item] of resolved.entries()) {
      if ('url' in item) {
        sources.push({ i, url: item.url, digest: item.checksum ?? item.download!.digest });
      } else {
        // The path matters as well as the content: a glob's matches (or a symlink's own name) name the files they become.
        sources.push({ i, rel: item.src.rel, name: item.src.name });
        collector.add(item.src.abs, item.src.stats, String(i), item.src.rel);
      }
    }
    const entries = collector.result();
    const { statCache } = options;
    const digests = entries.map((e) => (e.type === 'file' ? statCache.known(e.source!, collector.statsOf(e.source!)!) : undefined));
    const inputs = new StepInputs(sources, entries, digests, collector, statCache);
    for (const item of resolved) if ('url' in item && item.download) inputs.addDownload(item.download.path, item.download.digest);
    if (!options.deferred) await inputs.hashMissing();
    return inputs;
  }

  /** True when every file's digest is known: the key can be computed. */
  get complete(): boolean {
    return this.entries.every((e, i) => e.type !== 'file' || this.digests[i] !== undefined);
  }

  /** The key's part (call when complete). */
  key(): { sources: unknown[]; files: unknown[][] } {
    if (!this.complete) throw new Error('step inputs are not complete');
    return { sources: this.sources, files: this.entries.map((e, i) => [e.path, e.type, e.mode, e.linkname, this.digests[i]]) };
  }

  /** A file downloaded for the step (ADD <url> with a checksum): its digest names its content. */
  addDownload(path: string, digest: Digest): void {
    this.bySource.set(path, digest);
  }

  /** The layer's entries with the digest of each file that has one known, so that the layer is named by them (tarKey). */
  name(entries: readonly LayerEntry[]): LayerEntry[] {
    return withDigests(entries, this.bySource);
  }

  /**
   * Completes the digests with what writing the layer learnt (`learnt`, by host path; reading
   * began at `started`), hashing any file the layer did not read (an archive ADD unpacked).
   */
  async learn(learnt: ReadonlyMap<string, Digest>, started: number): Promise<void> {
    for (const i of this.missing()) {
      const source = this.entries[i]!.source!;
      const digest = learnt.get(source);
      if (digest === undefined) continue;
      this.digests[i] = digest;
      this.bySource.set(source, digest);
      this.statCache.remember(source, this.collector.statsOf(source)!, digest, started);
    }
    await this.hashMissing();
  }

  private missing(): number[] {
    // A loop, not flatMap: this runs over every file of the step (thousands) several times per
    // build, and flatMap's array per entry showed in a no-op rebuild's profile and its GC.
    const missing: number[] = [];
    for (let i = 0; i < this.entries.length; i++) if (this.entries[i]!.type === 'file' && this.digests[i] === undefined) missing.push(i);
    return missing;
  }

  private async hashMissing(): Promise<void> {
    await mapLimit(this.missing(), HASH_CONCURRENCY, async (i) => {
      const source = this.entries[i]!.source!;
      this.digests[i] = await this.statCache.digest(source, this.collector.statsOf(source));
      this.bySource.set(source, this.digests[i]);
    });
  }
}

import type { ImageCachingOptions } from '../airgap/cache-images.js';
import type { LayerCompression } from '../layer/layer-writer.js';
import type { Platform } from '../oci/platform.js';
import type { Registries } from '../registry/registries.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/schemas.js';
import type { Store } from '../store/store.js';
import type { Reporter } from '../util/reporter.js';
import type { ReadKubefile } from './kubefile-source.js';
import type { RemoteCache } from './remote-cache.js';
import type { SandboxOptions } from './sandbox-options.js';
import type { ImageType } from './sealer-extension.js';

/** What a build is asked to do (the CLI's flags, resolved), read by every stage of it. */
export interface BuildOptions {
  contextDir: string;
  /** -f: the Kubefile path; default: the first of DEFAULT_FILE_NAMES in the context. */
  kubefile?: string;
  /** Normalised references to tag the result with. */
  tags: string[];
  platforms: Platform[];
  buildArgs: Map<string, string>;
  labels: Map<string, string>;
  compression: LayerCompression;
  timestamp: Date;
  store: Store;
  /** Where FROM images missing from the store are pulled from. */
  registries: Registries;
  reporter: Reporter;
  /** Which container images go into registry/ (airgap caching). */
  images: ImageCachingOptions;
  /** --no-cache: run every step; what is built is still recorded for the next build. */
  noCache: boolean;
  /** How RUN commands are isolated and what network they get. */
  sandbox: SandboxOptions;
  /** --type: sealer's image type, written to `sealer.image.extension`. */
  imageType: ImageType;
  /** --cache-from / --cache-to: a layer cache shared through a registry. */
  remoteCache?: RemoteCache;
  /** The record this build writes when it succeeds (build-record.ts), told what the build depends on. */
  record?: BuildRecorder;
}

/** What a build tells its record (build-record.ts) as it goes: what it read and depended on. */
export interface BuildRecorder {
  /** The Kubefile the record's key covers: the build parses these bytes, never a later read. */
  readonly kubefile: ReadKubefile;
  /** Before the build reads anything of the context. */
  beforeBuild(reporter: Reporter): void;
  /** A store tag the build resolved to `digest` and used. */
  resolved(name: string, digest: Digest): void;
  /** The build depended on something no record can check (a registry, a URL, helm): no record. */
  external(why: string): void;
  /** A layer cache entry the build used, and its blob. */
  cacheEntry(keyHex: string, blob: Descriptor): void;
  /** The build ended with `descriptor` in `store`. */
  afterBuild(store: Store, descriptor: Descriptor): Promise<void>;
}

import type { ImageCachingOptions } from '../airgap/cache-images.js';
import type { LayerCompression } from '../layer/layer-writer.js';
import type { Platform } from '../oci/platform.js';
import type { Registries } from '../registry/registries.js';
import type { Store } from '../store/store.js';
import type { Reporter } from '../util/reporter.js';
import type { BuildRecord } from './build-record.js';
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
  record?: BuildRecord;
}

import type { BuildRecorder } from './options.js';
import type { LayerCompression } from '../layer/layer-writer.js';
import type { Stage } from '../kubefile/instructions.js';
import type { Platform } from '../oci/platform.js';
import type { LayerFactsMemo } from '../runtime/layer-view.js';
import type { BlobBatch, Store } from '../store/store.js';
import type { SourcePosition } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import type { LayerCache, StatCache } from './cache.js';
import type { BuildContext } from './context.js';
import type { SandboxOptions } from './sandbox-options.js';
import type { StageBase } from './stage-result.js';
import type { VariableScope } from './variables.js';
import type { Workspace } from './workspace.js';

/** What COPY --from reads: a stage's or an image's filesystem. */
export interface CopySource {
  /** Stands for the whole filesystem in cache keys: a stage's last key, an image's manifest digest. */
  key: string;
  /** Names it in messages, e.g. `stage "builder"`. */
  label: string;
  /** The filesystem unpacked into a directory (made on first use). */
  dir(): Promise<string>;
}

/** What a stage builder is given. */
export interface StageBuildInput {
  stage: Stage;
  platform: Platform;
  scope: VariableScope;
  /** FROM an image, or FROM an earlier stage (its result), or neither for scratch. */
  base: StageBase;
  context: BuildContext;
  store: Store;
  batch: BlobBatch;
  reporter: Reporter;
  compression: LayerCompression;
  /** Every timestamp in the image: `created`, history and file mtimes. */
  timestamp: Date;
  /** Numbering for progress lines across the whole build. */
  stepOffset: number;
  stepTotal: number;
  cache: LayerCache;
  statCache: StatCache;
  /** What each layer holds: every layer written is scanned as it streams past. */
  facts: LayerFactsMemo;
  /** --no-cache: build every step (and still record what was built). */
  noCache: boolean;
  sandbox: SandboxOptions;
  /** COPY --from=VALUE (expanded): a stage name or index, or an image reference. */
  copySource: (from: string, pos: SourcePosition) => Promise<CopySource>;
  /** Takes the stage's workspace, to remove it when the build ends. */
  track: (workspace: Workspace) => void;
  /** Told of inputs no build record can check (a URL download). */
  record?: BuildRecorder | undefined;
}

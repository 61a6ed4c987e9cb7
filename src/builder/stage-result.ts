import type { Instruction } from '../kubefile/instructions.js';
import { parseKubefile } from '../kubefile/parse.js';
import { manifestLayers, type ImageDraft } from '../layer/image-model.js';
import type { Digest } from '../oci/digest.js';
import { Annotation } from '../oci/media-types.js';
import { parseJson } from '../oci/schemas.js';
import type { ResolvedImage } from '../store/image.js';
import { inheritedConfig, type ContainerConfig } from './container-config.js';
import { SealerExtensionDraft, SealerExtensionSchema, type SealerExtension } from './sealer-extension.js';

/** What a stage produced: the image draft, sealer's records and where the cache stands. */
export interface StageResult extends ImageDraft {
  /** User, Cmd, Entrypoint, WorkingDir, ... (container-config.ts). */
  config: ContainerConfig;
  sealer: SealerExtensionDraft;
  /** The cache key of the stage's filesystem: its last layer step's, or its base's. */
  key: Digest;
}

/** A stage's base: an image (FROM an image), an earlier stage's result, or nothing (scratch). */
export type StageBase = ResolvedImage | StageResult | undefined;

/**
 * Where a stage starts: a copy of its base, an image's layers read from `pathOf` and named
 * by `owner` in messages. `key` is the stage's root cache key.
 */
export function startFrom(base: StageBase, key: Digest, pathOf: (digest: Digest) => string, owner: string): StageResult {
  if (base !== undefined && 'key' in base) {
    return {
      layers: [...base.layers], history: [...base.history], env: new Map(base.env), labels: new Map(base.labels),
      author: base.author, config: inheritedConfig(base.config), sealer: new SealerExtensionDraft(base.sealer.toExtension(''), true), key,
    };
  }
  const baseExtension = base?.manifest.annotations?.[Annotation.sealerExtension];
  return {
    layers: base === undefined ? [] : manifestLayers(base.manifest.layers, base.config.rootfs.diff_ids, pathOf, owner),
    history: [...(base?.config.history ?? [])],
    env: new Map((base?.config.config?.Env ?? []).map((kv) => splitEnv(kv))),
    labels: new Map(Object.entries(base?.config.config?.Labels ?? {})),
    author: base?.config.author,
    config: inheritedConfig(base?.config.config),
    sealer: new SealerExtensionDraft(!baseExtension ? undefined : (parseJson(SealerExtensionSchema, baseExtension, `annotation ${Annotation.sealerExtension} of image ${base!.descriptor.digest}`) as SealerExtension)),
    key,
  };
}

/** The base's ONBUILD triggers as instructions, each parsed as if it were a Kubefile line. */
export function onbuildTriggers(base: StageBase, baseName: string): Exclude<Instruction, { kind: 'FROM' }>[] {
  const triggers = base === undefined ? [] : 'key' in base ? (base.config.OnBuild ?? []) : (base.config.config?.OnBuild ?? []);
  return triggers.map((trigger) => parseKubefile(`FROM scratch\n${trigger}\n`, `ONBUILD of ${baseName}`).stages[0]!.instructions[0]!);
}

function splitEnv(kv: string): [string, string] {
  const eq = kv.indexOf('=');
  return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)];
}

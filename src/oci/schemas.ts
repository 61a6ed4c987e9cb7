import { z } from 'zod';
import { UserError } from '../util/errors.js';
import { isDigest, type Digest } from './digest.js';

/**
 * Zod schemas for the OCI documents that cross a boundary (store files, registries,
 * archives). Unknown fields are kept so that a document read and re-serialised loses
 * nothing; the raw bytes stay authoritative for digests anyway.
 */
const digest = z.string().refine(isDigest, 'must be sha256: followed by 64 lowercase hex').transform((d) => d as Digest);
const annotations = z.record(z.string(), z.string());

/**
 * Count caps on untrusted documents (README "Limits"): far above real images (overlayfs
 * stacks at most 128 layers; the largest indexes list a few dozen platforms with their
 * attestations), low enough that a hostile document cannot make sealbuild fetch for hours.
 */
export const MAX_LAYERS = 1000;
export const MAX_INDEX_CHILDREN = 1000;

export const PlatformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
});

export const DescriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  platform: PlatformSchema.optional(),
  artifactType: z.string().optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const ManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema).max(MAX_LAYERS, `more than ${MAX_LAYERS} layers, sealbuild's limit`),
  subject: DescriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const IndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(DescriptorSchema).max(MAX_INDEX_CHILDREN, `more than ${MAX_INDEX_CHILDREN} entries, sealbuild's limit`),
  subject: DescriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type ImageIndex = z.infer<typeof IndexSchema>;

const HistorySchema = z.looseObject({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type History = z.infer<typeof HistorySchema>;

export const ImageConfigSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  config: z
    .looseObject({
      // docker writes null for unset lists and maps.
      User: z.string().nullish(),
      ExposedPorts: z.record(z.string(), z.object({})).nullish(),
      Env: z.array(z.string()).optional(),
      Cmd: z.array(z.string()).nullish(),
      Entrypoint: z.array(z.string()).nullish(),
      Volumes: z.record(z.string(), z.object({})).nullish(),
      WorkingDir: z.string().nullish(),
      Labels: z.record(z.string(), z.string()).optional(),
      StopSignal: z.string().nullish(),
      Healthcheck: z.looseObject({ Test: z.array(z.string()) }).nullish(),
      OnBuild: z.array(z.string()).nullish(),
      Shell: z.array(z.string()).nullish(),
    })
    .optional(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digest).max(MAX_LAYERS, `more than ${MAX_LAYERS} layers, sealbuild's limit`) }),
  history: z.array(HistorySchema).optional(),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export const OciLayoutSchema = z.looseObject({ imageLayoutVersion: z.string() });

/** What to tell the user when a document is malformed: a hint, and exit code 2 for a file they gave as an argument. */
export interface DocumentProblem {
  hint?: string;
  exitCode?: 1 | 2;
}

/**
 * The one reader of JSON documents (from disk, a registry or an image): parses JSON bytes
 * against a schema, turning both syntax and shape problems into one line naming `where` and
 * the first offending field. `checkedJson` is the same check for records that are only a
 * cache, where a damaged one is a miss.
 */
export function parseJson<T extends z.ZodType>(schema: T, bytes: Buffer | string, where: string, problem: DocumentProblem = {}): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString());
  } catch (err) {
    throw new UserError(`${where}: not valid JSON (${(err as Error).message})`, problem);
  }
  return checkedDocument(schema, value, where, problem);
}

/** parseJson's check for a document decoded already (a YAML file): one line naming `where` and the first offending field. */
export function checkedDocument<T extends z.ZodType>(schema: T, value: unknown, where: string, problem: DocumentProblem = {}): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new UserError(`${where}: invalid document at "${issue.path.join('.') || '(root)'}": ${issue.message}`, problem);
  }
  return result.data;
}

/** The record `bytes` hold, or undefined when they are not JSON of the schema's shape (a cache miss, never an error). */
export function checkedJson<T extends z.ZodType>(schema: T, bytes: Buffer | string): z.infer<T> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString());
  } catch {
    return undefined;
  }
  return schema.safeParse(value).data;
}

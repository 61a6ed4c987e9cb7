import { parseAllDocuments, type Document } from 'yaml';
import { UserError } from '../util/errors.js';

/** Where an image reference was found, for messages and the lock file. */
export interface FoundImage {
  /** As written (after ${ARCH}-style expansion). */
  image: string;
  /** `file` or `file:line`. */
  source: string;
  /** The app it belongs to, when found under application/apps/<name>/. */
  appName?: string;
  /** Found in an image list, where image files (oci-archive:PATH…) may be named too. */
  listed?: true;
}

/** A user-given place where a custom resource keeps images: `Kind=spec.path[].image`. */
export interface ImageField {
  kind: string;
  path: string[];
}

export function parseImageField(text: string): ImageField {
  const eq = text.indexOf('=');
  const kind = text.slice(0, eq);
  const path = text.slice(eq + 1);
  if (eq <= 0 || path === '' || !/^[A-Za-z0-9_.\-[\]]+$/.test(path)) {
    throw new UserError(`--image-field "${text}" is not KIND=path`, { hint: 'e.g. --image-field Kafka=spec.kafka.image or --image-field MyApp=spec.workers[].image', exitCode: 2 });
  }
  return { kind, path: path.split('.') };
}

/** The pod spec of every workload kind, by where it sits in the object. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
  PodTemplate: ['template', 'spec'],
};
const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'];

function get(value: unknown, path: string[]): unknown[] {
  let current: unknown[] = [value];
  for (const step of path) {
    const many = step.endsWith('[]');
    const key = many ? step.slice(0, -2) : step;
    current = current.flatMap((v) => {
      const next = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[key] : undefined;
      if (many) return Array.isArray(next) ? next : [];
      return next === undefined ? [] : [next];
    });
  }
  return current;
}

/** Images of one Kubernetes object (and of the items of a List). */
export function imagesOfObject(object: unknown, fields: ImageField[]): string[] {
  if (object === null || typeof object !== 'object') return [];
  const { kind, items } = object as { kind?: unknown; items?: unknown };
  if (typeof kind !== 'string') return [];
  if (kind.endsWith('List') && Array.isArray(items)) return items.flatMap((item) => imagesOfObject(item, fields));
  const found: unknown[] = [];
  const podSpec = POD_SPEC_PATHS[kind];
  if (podSpec) for (const list of CONTAINER_LISTS) found.push(...get(object, [...podSpec, `${list}[]`, 'image']));
  for (const field of fields) if (field.kind === kind) found.push(...get(object, field.path));
  return found.filter((v): v is string => typeof v === 'string' && v.trim() !== '').map((v) => v.trim());
}

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

export function parseYamlFile(path: string, text: string): Document[] {
  const docs = parseAllDocuments(text);
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) throw new UserError(`${path}:${lineOf(text, error.pos[0])}: not valid YAML: ${error.message.split('\n')[0]}`, { hint: 'fix the file or keep it out of manifests/ and charts/' });
  }
  return docs;
}

/** Images in a YAML file of Kubernetes objects (any number of documents). */
export function imagesInYaml(path: string, text: string, fields: ImageField[]): FoundImage[] {
  return parseYamlFile(path, text).flatMap((doc) => imagesOfObject(doc.toJS(), fields).map((image) => ({ image, source: path })));
}

/** One reference per line; `#` starts a comment. */
export function imagesInList(path: string, text: string): FoundImage[] {
  return text.split(/\r?\n/).flatMap((line, i) => {
    const image = line.replace(/#.*/, '').trim();
    return image === '' ? [] : [{ image, source: `${path}:${i + 1}`, listed: true as const }];
  });
}

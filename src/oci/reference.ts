import { UserError } from '../util/errors.js';
import { isDigest, type Digest } from './digest.js';

/**
 * An image reference normalised by docker's grammar (distribution/reference):
 * `ubuntu` is `docker.io/library/ubuntu:latest`, `my/app:v1` is `docker.io/my/app:v1`.
 * A reference may carry both a tag and a digest; the digest then decides what is pulled.
 */
export interface Reference {
  /** Registry host[:port], e.g. `docker.io`, `localhost:5000`. */
  domain: string;
  /** Repository path without the domain, e.g. `library/ubuntu`. */
  path: string;
  tag?: string;
  digest?: Digest;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DOMAIN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$|^\[[0-9A-Fa-f:]+\](?::[0-9]+)?$/;
const DOCKER_HUB = 'docker.io';
const MAX_NAME = 255;

function invalid(text: string, why: string): UserError {
  return new UserError(`invalid image reference "${text}": ${why}`, {
    hint: 'references look like [registry[:port]/]path[:tag][@sha256:digest], lowercase path, e.g. docker.io/library/nginx:1.25',
    exitCode: 2,
  });
}

export function parseReference(text: string): Reference {
  if (text === '') throw invalid(text, 'empty');
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw invalid(text, `"${d}" is not a sha256 digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(text, `"${tag}" is not a valid tag`);
  }
  let domain = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  // As in docker: the first component is a registry if it looks like a host.
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    if (!DOMAIN.test(first)) throw invalid(text, `"${first}" is not a valid registry host`);
    domain = first;
    path = rest.slice(slash + 1);
  }
  if (domain === 'index.docker.io' || domain === 'registry-1.docker.io') domain = DOCKER_HUB;
  if (path === '') throw invalid(text, 'the repository name is empty');
  for (const component of path.split('/')) {
    if (!COMPONENT.test(component)) {
      throw invalid(text, component !== component.toLowerCase() ? 'repository names must be lowercase' : `"${component}" is not a valid path component`);
    }
  }
  if (domain === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  if (domain.length + 1 + path.length > MAX_NAME) throw invalid(text, `name longer than ${MAX_NAME} characters`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `domain/path` */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The fully qualified form: `docker.io/library/ubuntu:latest`, `host/x:tag@sha256:…`. */
export function formatReference(ref: Reference): string {
  return `${repositoryName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The short form docker prints: `ubuntu:latest`, `my/app:v1`. */
export function familiarName(ref: Reference): string {
  let name = repositoryName(ref);
  if (ref.domain === DOCKER_HUB) name = ref.path.startsWith('library/') && ref.path.split('/').length === 2 ? ref.path.slice('library/'.length) : ref.path;
  return name;
}

/** Parses and returns the normalised string form: the store's tag key. */
export function normalizeReference(text: string): string {
  return formatReference(parseReference(text));
}

/**
 * Docker image references as docker normalises them (distribution's `reference.ParseNormalizedNamed`):
 * the first path component is a registry when it holds a `.` or a `:` or is `localhost`, otherwise the
 * registry is docker.io and a one-component name gets `library/`; no tag and no digest means `:latest`.
 * `alpine` is `docker.io/library/alpine:latest`. With both a tag and a digest, the digest is fetched.
 */
import { LayerfoldError } from '../../errors.js';
import { isDigest, whyNotDigest } from '../digest.js';

export interface DockerReference {
  /** host[:port] as written, `docker.io` for Docker Hub. */
  registry: string;
  /** The repository path inside the registry, e.g. `library/alpine`. */
  repository: string;
  tag?: string;
  digest?: string;
  /** The fully qualified form, e.g. `docker.io/library/alpine:latest`. */
  canonical: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

function bad(input: string, why: string): LayerfoldError {
  return new LayerfoldError('USAGE', `${input}: ${why}`);
}

function isRegistryComponent(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[');
}

/** Parse `[REGISTRY/]REPO[:TAG][@DIGEST]`; `input` is what the user typed, for messages. */
export function parseDockerReference(text: string, input = text): DockerReference {
  let rest = text;
  let digest: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw bad(input, whyNotDigest(digest));
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw bad(input, `"${tag}" is not a valid tag`);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  if (parts.length > 1 && isRegistryComponent(parts[0]!)) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) throw bad(input, `"${registry}" is not a registry host[:port]`);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) {
    throw bad(input, `"${parts.join('/')}" is not a valid repository name (lowercase letters, digits, and . _ - separators)`);
  }
  const repository = parts.join('/');
  if (tag === undefined && digest === undefined) tag = 'latest';
  const canonical = `${registry}/${repository}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}), canonical };
}

/** The host that serves the registry API: Docker Hub's API lives at registry-1.docker.io. */
export function apiHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

/** What to ask the manifests endpoint for: the digest when given, else the tag. */
export function manifestReference(ref: DockerReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

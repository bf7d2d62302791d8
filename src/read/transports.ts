/**
 * Image references with skopeo's transport names, accepted wherever an IMAGE argument is taken:
 *
 *   docker-archive:PATH[:NAME]   a `docker save` archive (manifest.json), NAME picks an image in it
 *   oci-archive:PATH[:REF]       an OCI layout in a tar; REF is the ref.name annotation
 *   oci:DIR[:REF]                an OCI layout directory
 *   dir:DIR                      a `skopeo copy … dir:DIR` directory (the whole rest is the path, as in skopeo)
 *   docker-daemon:NAME[:TAG]     the image from a running Docker engine (DOCKER_HOST)
 *   containers-storage:[DRIVER@ROOT+RUNROOT]IMAGE   podman's/buildah's store, read without podman
 *   docker://[REGISTRY/]REPO[:TAG|@DIGEST]   a registry; docker's shorthand (`alpine`)
 *
 * Like skopeo, the path and the optional reference are split at the first `:` after the transport,
 * so those paths cannot hold a colon. Anything whose prefix is not a transport name (including `-`)
 * is a plain path whose layout is detected from its content; to name a file that really starts with
 * `oci:` write `./oci:…`.
 */
import { LayerfoldError } from '../errors.js';
import { parseStoreReference, type StoreReference } from './containers-storage.js';
import { parseDockerReference, type DockerReference } from './registry/reference.js';

export type ImageReference =
  | { transport: 'path'; path: string }
  | { transport: 'docker-archive'; path: string; image?: string }
  | { transport: 'oci-archive'; path: string; image?: string }
  | { transport: 'oci'; dir: string; image?: string }
  | { transport: 'dir'; dir: string }
  | { transport: 'docker-daemon'; name: string }
  | { transport: 'containers-storage'; store: StoreReference }
  | { transport: 'docker'; reference: DockerReference };

export type Transport = ImageReference['transport'];

export const TRANSPORT_NAMES = ['docker-archive', 'oci-archive', 'oci', 'dir', 'docker-daemon', 'containers-storage', 'docker'] as const;

function splitPathAndImage(rest: string): { path: string; image?: string } {
  const colon = rest.indexOf(':');
  if (colon < 0) return { path: rest };
  const image = rest.slice(colon + 1);
  return { path: rest.slice(0, colon), ...(image !== '' ? { image } : {}) };
}

function requirePath(transport: string, path: string, input: string): void {
  if (path === '') throw new LayerfoldError('USAGE', `${input}: ${transport}: needs a path, e.g. ${transport}:image.tar`);
}

/** Parse an IMAGE argument. Never touches the file system. */
export function parseImageReference(input: string): ImageReference {
  const colon = input.indexOf(':');
  const prefix = colon < 0 ? '' : input.slice(0, colon);
  const rest = input.slice(colon + 1);
  switch (prefix) {
    case 'docker-archive':
    case 'oci-archive': {
      const { path, image } = splitPathAndImage(rest);
      requirePath(prefix, path, input);
      return { transport: prefix, path, ...(image !== undefined ? { image } : {}) };
    }
    case 'oci': {
      const { path, image } = splitPathAndImage(rest);
      requirePath(prefix, path, input);
      return { transport: 'oci', dir: path, ...(image !== undefined ? { image } : {}) };
    }
    case 'dir':
      requirePath(prefix, rest, input);
      return { transport: 'dir', dir: rest };
    case 'docker-daemon':
      if (rest === '') throw new LayerfoldError('USAGE', `${input}: docker-daemon: needs an image name, e.g. docker-daemon:alpine:3.20`);
      return { transport: 'docker-daemon', name: rest };
    case 'containers-storage':
      return { transport: 'containers-storage', store: parseStoreReference(rest, input) };
    case 'docker':
      if (!rest.startsWith('//')) throw new LayerfoldError('USAGE', `${input}: a registry reference is written docker://REGISTRY/REPO[:TAG|@DIGEST], e.g. docker://alpine`);
      return { transport: 'docker', reference: parseDockerReference(rest.slice(2), input) };
    default:
      return { transport: 'path', path: input };
  }
}

/** How the reference is named back to the user. */
export function describeReference(ref: ImageReference): string {
  switch (ref.transport) {
    case 'path':
      return ref.path === '-' ? 'stdin' : ref.path;
    case 'docker-archive':
    case 'oci-archive':
      return `${ref.transport}:${ref.path}`;
    case 'oci':
    case 'dir':
      return `${ref.transport}:${ref.dir}`;
    case 'docker-daemon':
      return `docker-daemon:${ref.name}`;
    case 'containers-storage': {
      const { driver, root, runroot, image } = ref.store;
      const store = root !== undefined || driver !== undefined ? `[${driver !== undefined ? `${driver}@` : ''}${root ?? ''}${runroot !== undefined ? `+${runroot}` : ''}]` : '';
      return `containers-storage:${store}${image}`;
    }
    case 'docker':
      return `docker://${ref.reference.canonical}`;
  }
}

/** Pushing a written OCI layout to a registry. */
import { LayerfoldError } from '../errors.js';
import type { DockerReference } from '../read/registry/reference.js';
import type { WrittenImage } from '../squash.js';

export async function pushLayout(_dir: string, _image: WrittenImage, ref: DockerReference, _options: { creds?: string; insecure?: boolean }): Promise<void> {
  throw new LayerfoldError('UNSUPPORTED', `docker://${ref.canonical}: pushing is not built yet`);
}

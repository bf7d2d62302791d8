/**
 * A file written from a stream, done only once its descriptor is closed. `stream.pipeline` settles at
 * the first error, before the fs.WriteStream it destroyed has closed its fd — and before that
 * stream's lazy open(2) has even run, which still creates the file when it does. A pull that failed
 * on one blob returned while another blob's unpack file was being opened, so the TempSpace removal
 * met a file made behind its back (ENOTEMPTY, in place of the real error). Every writer into a
 * temporary directory goes through here, so that whoever removes the directory after a failure
 * knows no file in it is still being made.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

/** Resolves once `file` has closed its fd (a pending open first completed and was closed again). */
function closed(file: WriteStream): Promise<void> {
  if (file.closed) return Promise.resolve();
  return new Promise((resolve) => {
    file.once('close', () => resolve());
    // a pipeline that failed destroyed it already; anything else that got here must not keep it open
    if (!file.destroyed) file.destroy();
  });
}

/**
 * Create `path` and run `write` (a pipeline ending in the stream it is given); settles with its
 * outcome, but only after the file's fd is closed, on success and failure alike.
 */
export async function writeFileFrom<T>(path: string, write: (file: WriteStream) => Promise<T>): Promise<T> {
  const file = createWriteStream(path);
  try {
    return await write(file);
  } finally {
    await closed(file);
  }
}

/**
 * Hold back every open(2) that fs.WriteStream (and any fs.open caller) makes under `dir`, as a loaded
 * machine does at random, and count the writers still opening or open. stream.pipeline settles at
 * the first error before the WriteStream it destroyed has opened — let alone closed — its file; a
 * caller that removes the directory then races the file being made (ENOTEMPTY, a file left behind).
 * Patches the `fs` module object the streams call into, for the duration of `run` only.
 */
import fs from 'node:fs';

export interface Writers {
  /** open(2) calls held back or under way under the directory. */
  opening: number;
  /** fds opened under the directory and not closed yet. */
  open: number;
  /** how many opens under the directory completed in all (the test tested something when > 0). */
  opened: number;
}

type Callback = (err: NodeJS.ErrnoException | null, fd?: number) => void;

/** Run `run` with opens under `dir` delayed `ms`; returns its result and the writers live the moment it settled. */
export async function withSlowOpens<T>(dir: string, ms: number, run: () => Promise<T>): Promise<{ result: T; atReturn: Writers; opened: number }> {
  const realOpen = fs.open;
  const realClose = fs.close;
  const live = new Set<number>();
  let opening = 0;
  let opened = 0;
  const open = (path: fs.PathLike, ...rest: unknown[]) => {
    const done = rest.pop() as Callback;
    const call = realOpen as (...a: unknown[]) => void;
    if (!String(path).startsWith(dir)) return call(path, ...rest, done);
    opening++;
    setTimeout(() => {
      call(path, ...rest, (err: NodeJS.ErrnoException | null, fd?: number) => {
        opening--;
        if (fd !== undefined) {
          live.add(fd);
          opened++;
        }
        done(err, fd);
      });
    }, ms);
  };
  fs.open = open as typeof fs.open;
  fs.close = ((fd: number, done?: fs.NoParamCallback) =>
    realClose(fd, (err) => {
      live.delete(fd);
      done?.(err);
    })) as typeof fs.close;
  try {
    const result = await run();
    const atReturn = { opening, open: live.size, opened };
    await new Promise((r) => setTimeout(r, ms + 200)); // a writer left behind opens (and fails) now, not in the next test
    return { result, atReturn, opened };
  } finally {
    fs.open = realOpen;
    fs.close = realClose;
  }
}

/**
 * Read an output tar back with independent readers: node-tar (in process) for field values, and
 * GNU tar and bsdtar (when installed) for listings that must agree with it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { Parser, type ReadEntry } from 'tar';
import { readFileSync } from 'node:fs';

export interface ReadBack {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkpath: string;
  content?: string;
}

export async function readWithNodeTar(file: string | Buffer): Promise<ReadBack[]> {
  const data = typeof file === 'string' ? readFileSync(file) : file;
  const out: ReadBack[] = [];
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => {
          const item: ReadBack = {
            path: entry.path,
            type: entry.type,
            mode: entry.mode ?? 0,
            uid: entry.uid ?? 0,
            gid: entry.gid ?? 0,
            size: entry.size ?? 0,
            mtime: entry.mtime ? Math.floor(entry.mtime.getTime() / 1000) : 0,
            linkpath: entry.linkpath ?? '',
          };
          if (entry.type === 'File' || entry.type === 'OldFile') item.content = Buffer.concat(chunks).toString('latin1');
          out.push(item);
        });
      },
    });
    parser.on('error', reject);
    parser.on('close', () => resolve());
    parser.end(data);
  });
  return out;
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Names as GNU tar or bsdtar list them (`-tf`), in archive order, and the exit status: bsdtar lists a
 * non-UTF-8 PAX path but exits 1 ("can't be converted"), for docker's own export as for ours.
 */
export function listWith(cmd: 'tar' | 'bsdtar', file: string): string[] {
  const env = { ...process.env, LC_ALL: 'C.UTF-8' };
  const run = spawnSync(cmd, ['-tf', file], { encoding: 'latin1', maxBuffer: 1 << 28, env });
  return [...run.stdout.split('\n').filter((l) => l !== ''), `exit ${run.status}`];
}

/** `tar -tvf`-style long listings from GNU tar, numeric owners, full times. */
export function gnuLongListing(file: string): string[] {
  const out = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', file], { encoding: 'latin1', env: { ...process.env, TZ: 'UTC' }, maxBuffer: 1 << 28 });
  return out.split('\n').filter((l) => l !== '');
}

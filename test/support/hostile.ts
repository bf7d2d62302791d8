/**
 * What the hostile-input tests share: the commands under test (one row each, so a new command joins
 * the corpus and the fuzzer with one line), an in-process CLI run with captured streams, and the
 * checks every run must pass — a refusal is one line with exit 2 and leaves nothing behind; a result
 * has only names that stay inside the root.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { run } from '../../src/cli/main.js';
import { catFile, copyOut, diffRootfs, explainPath, exportRootfs, extractRootfs, inspectImage, listImage, makeBundle, makeFilesystem, readImageConfig, shellCommandLine, squashImage } from '../../src/index.js';
import { hasCommand, readWithNodeTar } from './read.js';
import { scratchDir } from './build.js';

export interface HostileCommand {
  name: string;
  /**
   * CLI arguments: read IMAGE, write only inside OUT (an empty directory), spool into TMP. FILE is a
   * regular file the image should hold (relative), for the commands that name one (cat, why).
   */
  argv(image: string, out: string, tmp: string, file?: string): string[];
  /** The library call behind the command, same inputs. */
  library(image: string, out: string, tmp: string, extra?: Record<string, unknown>, file?: string): Promise<unknown>;
  /**
   * The command reads the config and never a layer (config, config --json): a case refused for what
   * a layer holds may pass; it must still end cleanly and leave nothing behind.
   */
  configOnly?: boolean;
  /** The command needs FILE to be in the image (cat): without one to name, a one-line refusal is its due. */
  needsFile?: boolean;
  /**
   * The command also takes inputs that are not images (diff compares plain tars too): a case whose
   * image archive is refused as a whole (BAD_ARCHIVE, BAD_LAYOUT) may then succeed; it must still end
   * cleanly and leave nothing behind.
   */
  takesPlainTars?: boolean;
  /** After a success: the names the result holds (relative; directories end in '/'), or null for a report. */
  resultNames(out: string, stdout: string, image: string): Promise<string[] | null>;
}

/** The file cat and why name when the caller knows none the image holds. */
const DEFAULT_FILE = 'bin/sh';

/** Every command that reads an image. Add a row when a command lands. */
export const COMMANDS: HostileCommand[] = [
  {
    name: 'export',
    argv: (image, out, tmp) => ['export', image, '-o', join(out, 'rootfs.tar'), '--tmpdir', tmp],
    library: (image, out, tmp, extra = {}) => exportRootfs(image, { output: join(out, 'rootfs.tar'), tmpDir: tmp, ...extra }),
    resultNames: (out) => tarNames(join(out, 'rootfs.tar')),
  },
  {
    name: 'extract',
    argv: (image, out, tmp) => ['extract', image, join(out, 'root'), '--tmpdir', tmp],
    library: (image, out, tmp, extra = {}) => extractRootfs(image, join(out, 'root'), { tmpDir: tmp, ...extra }),
    resultNames: async (out) => listTree(join(out, 'root')),
  },
  {
    name: 'ls',
    argv: (image, _out, tmp) => ['ls', image, '--tmpdir', tmp],
    library: (image, _out, tmp, extra = {}) => listImage(image, { tmpDir: tmp, ...extra }, () => undefined),
    resultNames: async (_out, _stdout, image) => {
      const names: string[] = [];
      // The run under test already passed or skipped the digest checks; this only lists the names.
      await listImage(image, { verify: false }, (entry) => names.push(entry.name));
      return names;
    },
  },
  {
    name: 'inspect',
    argv: (image, _out, tmp) => ['inspect', image, '--tmpdir', tmp],
    library: (image, _out, tmp, extra = {}) => inspectImage(image, { tmpDir: tmp, ...extra }),
    resultNames: async () => null,
  },
  {
    name: 'diff',
    takesPlainTars: true,
    argv: (image, _out, tmp) => ['diff', image, image, '--tmpdir', tmp],
    library: (image, _out, tmp, extra = {}) => diffRootfs(image, image, { flatten: { tmpDir: tmp, ...extra } }),
    resultNames: async () => null,
  },
  {
    name: 'squash',
    argv: (image, out, tmp) => ['squash', image, '-o', join(out, 'image.tar'), '--tmpdir', tmp, '--quiet'],
    library: (image, out, tmp, extra = {}) => squashImage(image, { output: join(out, 'image.tar'), tmpDir: tmp, ...extra }),
    // the names of the squashed image's rootfs, as export gives them
    resultNames: async (out) => {
      const rootfs = join(out, 'squashed-rootfs.tar');
      try {
        await exportRootfs(join(out, 'image.tar'), { output: rootfs });
        return await tarNames(rootfs);
      } finally {
        rmSync(rootfs, { force: true });
      }
    },
  },
  {
    name: 'mkfs',
    argv: (image, out, tmp) => ['mkfs', image, join(out, 'rootfs.ext4'), '--tmpdir', tmp, '-q'],
    library: (image, out, tmp, extra = {}) => makeFilesystem(image, join(out, 'rootfs.ext4'), { type: 'ext4', tmpDir: tmp, ...extra }),
    resultNames: async () => null,
  },
  {
    name: 'bundle',
    argv: (image, out, tmp) => ['bundle', image, join(out, 'bundle'), '--tmpdir', tmp],
    library: (image, out, tmp, extra = {}) => makeBundle(image, join(out, 'bundle'), { tmpDir: tmp, ...extra }),
    resultNames: async (out) => listTree(join(out, 'bundle', 'rootfs')),
  },
  {
    name: 'why',
    argv: (image, _out, tmp, file = DEFAULT_FILE) => ['why', image, file, '--tmpdir', tmp],
    library: (image, _out, tmp, extra = {}, file = DEFAULT_FILE) => explainPath(image, file, { tmpDir: tmp, ...extra }),
    resultNames: async () => null,
  },
  {
    name: 'config',
    configOnly: true,
    argv: (image, _out, tmp) => ['config', image, '--tmpdir', tmp],
    library: (image, _out, tmp, extra = {}) => readImageConfig(image, { tmpDir: tmp, ...extra }),
    resultNames: async () => null,
  },
  {
    name: 'config --json',
    configOnly: true,
    argv: (image, _out, tmp) => ['config', image, '--json', '--tmpdir', tmp],
    library: (image, _out, tmp, extra = {}) => readImageConfig(image, { tmpDir: tmp, ...extra }),
    resultNames: async () => null,
  },
  {
    name: 'config --shell',
    argv: (image, out, tmp) => ['config', image, '--shell', join(out, 'root'), '--tmpdir', tmp],
    library: (image, out, tmp, extra = {}) => shellCommandLine(image, join(out, 'root'), { tmpDir: tmp, ...extra }),
    resultNames: async () => null,
  },
  {
    name: 'cat',
    needsFile: true,
    argv: (image, _out, tmp, file = DEFAULT_FILE) => ['cat', image, file, '--tmpdir', tmp],
    library: (image, _out, tmp, extra = {}, file = DEFAULT_FILE) => catFile(image, file, new PassThrough().resume(), { tmpDir: tmp, ...extra }),
    resultNames: async () => null,
  },
  {
    name: 'cp',
    argv: (image, out, tmp) => ['cp', `${image}:/`, join(out, 'copy'), '--tmpdir', tmp],
    library: (image, out, tmp, extra = {}) => copyOut(image, '/', join(out, 'copy'), { tmpDir: tmp, ...extra }),
    resultNames: async (out) => listTree(join(out, 'copy')),
  },
];

const HAVE_GNU_TAR = hasCommand('tar');

/**
 * The names of an output tar. node-tar must read it; the names are GNU tar's (`-tPf`, nothing
 * stripped), since node-tar decodes PAX paths as UTF-8 and, for one that is not (docker writes raw
 * bytes there), falls back to the main header's ASCII stand-in, which may be `/` — as docker's own
 * export does (fixtures/docker/FINDINGS.md). Without GNU tar, node-tar's names.
 */
export async function tarNames(file: string): Promise<string[]> {
  const nodeTar = (await readWithNodeTar(file)).map((e) => e.path);
  if (!HAVE_GNU_TAR) return nodeTar;
  const run = spawnSync('tar', ['-tPf', file], { encoding: 'latin1', maxBuffer: 1 << 28, env: { ...process.env, LC_ALL: 'C' } });
  if (run.status !== 0) throw new Error(`GNU tar cannot read ${file}: ${run.stderr}`);
  return run.stdout.split('\n').filter((l) => l !== '');
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function collector(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('latin1') };
}

export async function runCli(argv: string[]): Promise<CliRun> {
  const stdout = collector();
  const stderr = collector();
  const code = await run(argv, { stdin: Readable.from([]), stdout: stdout.stream, stderr: stderr.stream, env: {} });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** Every path under dir (relative, raw bytes as latin1, directories with a trailing '/'), symlinks not followed. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: Buffer, rel: string) => {
    for (const name of readdirSync(d, { encoding: 'buffer' })) {
      const full = Buffer.concat([d, Buffer.from('/'), name]);
      const path = `${rel}${name.toString('latin1')}`;
      if (lstatSync(full).isDirectory()) {
        out.push(`${path}/`);
        walk(full, `${path}/`);
      } else out.push(path);
    }
  };
  walk(Buffer.from(dir), '');
  return out.sort();
}

/** A name that stays inside the root: relative, no `..` component, nothing empty but a trailing '/'. */
export function isContainedName(name: string): boolean {
  if (name === '' || name.startsWith('/')) return false;
  const parts = name.replace(/\/$/, '').split('/');
  return parts.every((p) => p !== '' && p !== '..' && p !== '.');
}

/** A refusal as the CLI must print it: `layerfold: <one line>`, nothing else. */
export function isOneLineRefusal(stderr: string): boolean {
  return /^layerfold: [^\n]+\n$/.test(stderr) && !/\n\s+at /.test(stderr);
}

/** Temporary outputs a writer might leave: `.NAME.layerfold-PID.tmp`. */
export const PARTIAL = /\.layerfold-\d+\.tmp$/;

/** A fresh root with an output directory, a --tmpdir and a directory beside them that nothing may touch. */
export function sandbox(): { root: string; out: string; tmp: string } {
  const root = scratchDir();
  const out = join(root, 'out');
  const tmp = join(root, 'tmp');
  mkdirSync(out);
  mkdirSync(tmp);
  mkdirSync(join(root, 'outside'));
  return { root, out, tmp };
}

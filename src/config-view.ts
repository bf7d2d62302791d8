/**
 * `layerfold config IMAGE`: what the image runs and how — Entrypoint, Cmd, Env, WorkingDir, User,
 * ExposedPorts, Volumes, Labels — as text or JSON (the config's own values, docker's shapes, null when
 * unset), and with `shell` a command line that runs the image's command in an extracted DIR:
 *   env -i -- NAME=VALUE… /usr/sbin/chroot --userspec=UID:GID --groups=GID,… -- DIR [sh -c 'cd "$1" && shift && exec "$@"' sh WORKDIR] ARGS…
 * Nothing from the image is read by a host tool as an option or a command: `--` ends env's options
 * (an Env entry `-S sh -c …` is a variable, not env's --split-string) and chroot's; every Env entry
 * holds a `=` (env takes the first word without one as the command); chroot is named by an absolute
 * host path (env would look a bare `chroot` up in the image's PATH); user and groups are numbers;
 * WorkingDir is absolute (an argument of cd, never an option). Words after DIR are the image's argv.
 * USER is resolved through the image's own /etc/passwd and /etc/group (image-user.ts) to numbers, so
 * the host's user database never decides. A WorkingDir other than `/` needs /bin/sh in the image
 * (chroot has no working-directory option). Every word is quoted for POSIX sh.
 * Reading the config alone does not unpack layers; `shell` flattens the image to read its user files.
 */
import { accessSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { LayerfoldError, showText } from './errors.js';
import { displayText, jsonText } from './escape.js';
import { flattenImage, openOptionsOf, type FlattenOptions } from './flatten.js';
import { TempSpace } from './io/temp.js';
import type { ImageConfig } from './read/config.js';
import { findImage, openSource } from './read/open-image.js';
import { imageCommand, imageEnv, imageWorkdir } from './write/bundle.js';
import { resolveImageUser } from './write/image-user.js';

export interface ConfigView {
  Entrypoint: string[] | null;
  Cmd: string[] | null;
  Env: string[] | null;
  WorkingDir: string | null;
  User: string | null;
  ExposedPorts: Record<string, object> | null;
  Volumes: Record<string, object> | null;
  Labels: Record<string, string> | null;
}

export function configView(config: ImageConfig): ConfigView {
  const c = config.config;
  const orNull = <T>(v: T | undefined | null | ''): T | null => (v === undefined || v === null || v === '' ? null : v);
  return {
    Entrypoint: orNull(c.Entrypoint),
    Cmd: orNull(c.Cmd),
    Env: orNull(c.Env),
    WorkingDir: orNull(c.WorkingDir),
    User: orNull(c.User),
    ExposedPorts: orNull(c.ExposedPorts),
    Volumes: orNull(c.Volumes),
    Labels: orNull(c.Labels),
  };
}

/** The image config, read without unpacking any layer. */
export async function readImageConfig(input: string, options: FlattenOptions = {}): Promise<ImageConfig> {
  const temp = TempSpace.create(options.tmpDir);
  let source;
  try {
    const open = openOptionsOf(options); // --creds, --insecure and --max-size included
    source = await openSource(input, temp, open);
    return (await findImage(source, open)).config;
  } catch (e) {
    if (e instanceof LayerfoldError) throw e;
    throw new LayerfoldError('IO', `${input}: ${(e as Error).message}`, { cause: e });
  } finally {
    source?.close();
    temp.dispose();
  }
}

/** Quote a word for POSIX sh: bare when it is plainly safe, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function listLines(label: string, values: string[]): string[] {
  if (values.length === 0) return [`${label}(none)`];
  return values.map((v, i) => `${i === 0 ? label : ' '.repeat(label.length)}${v}`);
}

/** The text form: one field a line (lists continue on indented lines). */
export function renderConfigView(view: ConfigView): string {
  const pad = (s: string) => `${s}:`.padEnd(14);
  const json = (v: string[] | null) => (v === null ? '(none)' : jsonText(v));
  const text = (v: string | null, none: string) => (v === null ? none : displayText(v));
  // every value is the image's: escaped (escape.ts) so that none can drive the terminal
  const out = [
    `${pad('Entrypoint')}${json(view.Entrypoint)}`,
    `${pad('Cmd')}${json(view.Cmd)}`,
    ...listLines(pad('Env'), (view.Env ?? []).map(displayText)),
    `${pad('WorkingDir')}${text(view.WorkingDir, '(none: /)')}`,
    `${pad('User')}${text(view.User, '(none: root)')}`,
    ...listLines(pad('ExposedPorts'), Object.keys(view.ExposedPorts ?? {}).map(displayText)),
    ...listLines(pad('Volumes'), Object.keys(view.Volumes ?? {}).map(displayText)),
    ...listLines(pad('Labels'), Object.entries(view.Labels ?? {}).map(([k, v]) => displayText(`${k}=${v}`))),
  ];
  return `${out.join('\n')}\n`;
}

/**
 * chroot by its host path: after `env -i` only the image's PATH is left, which need not name the
 * host directory chroot lives in (/usr/sbin).
 */
function hostChroot(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir.startsWith('/')) continue;
    const candidate = join(dir, 'chroot');
    try {
      accessSync(candidate, fsc.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return '/usr/sbin/chroot'; // never a bare name: env would search the image's PATH for it
}

/**
 * Control characters other than tab and newline, which sh would read back unchanged but a terminal
 * would obey when the line is shown (ESC, CR, CSI as U+009B).
 */
// eslint-disable-next-line no-control-regex
const UNSHOWABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** A command line running the image's command in `dir` (an extracted rootfs), as root on the host. */
export async function shellCommandLine(input: string, dir: string, options: FlattenOptions = {}): Promise<string> {
  const flat = await flattenImage(input, options);
  try {
    const config = flat.image.config.config;
    const args = imageCommand(config);
    if (args.length === 0) throw new LayerfoldError('BAD_LAYOUT', 'the image config has neither Entrypoint nor Cmd: nothing to run');
    const user = resolveImageUser(flat);
    const groups = [...new Set([user.gid, ...user.additionalGids])];
    const words = ['env', '-i', '--', ...imageEnv(config, user), hostChroot(), `--userspec=${user.uid}:${user.gid}`, `--groups=${groups.join(',')}`, '--'];
    words.push(dir);
    const workdir = imageWorkdir(config);
    if (workdir !== '/') words.push('/bin/sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', workdir);
    for (const arg of args) words.push(arg); // not push(...args): a million-word Cmd overflows a call's arguments
    const bad = words.find((w) => UNSHOWABLE.test(w));
    if (bad !== undefined) {
      throw new LayerfoldError('UNSUPPORTED', `config --shell: the image's command line holds a control character (${showText(bad)}), which this line cannot show safely; use bundle (runc) instead`);
    }
    return `${words.map(shellQuote).join(' ')}\n`;
  } finally {
    flat.close();
  }
}

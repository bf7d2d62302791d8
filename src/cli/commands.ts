/**
 * Every command's arguments, declared once as data. Three things are made from this table: the small
 * parser that runs ordinary invocations without loading yargs (argv.ts), the yargs parser built only
 * for the rest — usage errors, completion, help at an unusual width (yargs-cli.ts) — and so the help
 * text (yargs renders it; the bundle precomputes it, scripts/bundle.js). Order matters: options are
 * shown in the order given, commands in the order of COMMANDS.
 *
 * A command's module (`*-command.ts`) holds only what it does, `run(args, ctx)`, and is imported when
 * that command runs: `export` never loads what `mkfs` needs.
 */
import type { Argv } from 'yargs';
import type { CommandContext } from './main.js';
import { filterOptions, imageOptions } from './shared.js';

export interface OptionDef {
  type: 'string' | 'boolean' | 'number';
  describe: string;
  alias?: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  array?: boolean;
  demandOption?: boolean;
}

export type Options = ReadonlyArray<readonly [string, OptionDef]>;

/** What a command's module exports. */
export interface CommandModule {
  run(args: never, ctx: CommandContext): Promise<void>;
}

export interface CommandSpec {
  /** yargs' command string: `<name>` is a required positional, `[name..]` an optional list. */
  usage: string;
  describe: string;
  /** Each positional's description, in the order of `usage`. */
  positionals: Readonly<Record<string, string>>;
  options: Options;
  examples: ReadonlyArray<readonly [string, string]>;
  load: () => Promise<CommandModule>;
}

/**
 * The options a shared.ts builder declares (imageOptions, filterOptions: written as the yargs chain
 * they are passed to), recorded as data by passing it a recorder instead of yargs.
 */
function recorded(...builders: Array<(y: Argv) => unknown>): Options {
  const out: Array<readonly [string, OptionDef]> = [];
  const recorder = {
    option(name: string, def: OptionDef) {
      out.push([name, def]);
      return recorder;
    },
  };
  for (const build of builders) build(recorder as unknown as Argv);
  return out;
}

/** The options every command takes, before its own (yargs adds --version and --help). */
export const GLOBAL_OPTIONS: Options = [
  ['debug', { type: 'boolean', default: false, describe: 'show stack traces on errors' }],
  ['quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress line on stderr (it is shown only on a terminal)' }],
];

export const TOP_USAGE = '$0 <command> [options]\n\nFlatten saved container images into the exact rootfs tar `docker export` gives.';
export const NO_COMMAND = 'name a command: layerfold export IMAGE -o rootfs.tar';
export const COMPLETION = 'print a bash (or, under zsh, zsh) completion script: layerfold completion >> ~/.bashrc';
/** yargs' `completion` command is listed after this one (where it has always been). */
export const COMPLETION_AFTER = 'cp';

const IMAGE = recorded(imageOptions);
const TREE = recorded(imageOptions, filterOptions);
const ARCHIVE = 'image archive, OCI layout directory, or - for stdin';
const str = (describe: string, more: Partial<OptionDef> = {}): OptionDef => ({ type: 'string', describe, ...more });
const bool = (describe: string, more: Partial<OptionDef> = {}): OptionDef => ({ type: 'boolean', describe, ...more });
const flag = (describe: string): OptionDef => bool(describe, { default: false });
const num = (describe: string, more: Partial<OptionDef> = {}): OptionDef => ({ type: 'number', describe, ...more });
const init = (describe: string) => ['docker-init', str(describe)] as const;
const INIT_ADD = init('add what `docker create` adds, for a container created at TIME (RFC 3339 or epoch seconds; default now)');
const INIT_INCLUDE = init('include what `docker create` adds, for a container created at TIME (default now)');
/** diff/compare.ts's FIELDS (test/cli-args.test.ts checks they are the same). */
export const DIFF_FIELDS = 'type,mode,uid,gid,size,digest,link,device,mtime,xattrs,hardlinks';
const example = (line: string, what = '') => [line, what] as const;

export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  export: {
    usage: 'export <image_archive>',
    describe: 'write the rootfs tar `docker export` gives for a container of the image',
    positionals: { image_archive: ARCHIVE },
    options: [
      ...TREE,
      ['output', str('output file (.tar, .tar.gz, .tar.zst), or - for stdout', { alias: 'o' })],
      INIT_ADD,
      ['wsl', bool('add /etc/wsl.conf (the image\'s USER as WSL\'s default user) and the image\'s Env for login shells, for wsl --import')],
      ['compress', str('compress the output (default: from the output name)', { choices: ['none', 'gzip', 'zstd'] })],
    ],
    examples: [
      example('$0 export image.tar -o rootfs.tar'),
      example("$0 export image.tar --include usr/lib --exclude '*.a' -o lib.tar"),
      example('docker save app | $0 export - --docker-init > rootfs.tar'),
    ],
    load: () => import('./export-command.js'),
  },
  extract: {
    usage: 'extract <image_archive> <dir>',
    describe: 'write the image\'s root filesystem into DIR, as `docker export` holds it',
    positionals: { image_archive: ARCHIVE, dir: 'target directory: empty or absent unless --force' },
    options: [...TREE, INIT_ADD, ['force', flag('extract into a non-empty DIR, replacing what stands in the way')]],
    examples: [example('$0 extract image.tar rootfs/'), example('$0 extract image.tar rootfs/ --docker-init && layerfold diff image.tar rootfs/ --ignore-init')],
    load: () => import('./extract-command.js'),
  },
  bundle: {
    usage: 'bundle <image_archive> <dir>',
    describe: 'write an OCI runtime bundle (DIR/rootfs, DIR/config.json) that `runc run -b DIR ID` runs',
    positionals: { image_archive: ARCHIVE, dir: 'bundle directory: empty or absent unless --force' },
    options: [
      ...TREE,
      ['force', flag('write into a non-empty DIR, replacing what stands in the way')],
      ['hostname', str('the container\'s hostname', { default: 'layerfold' })],
    ],
    examples: [example('$0 bundle image.tar app/ && runc run -b app/ app1')],
    load: () => import('./bundle-command.js'),
  },
  config: {
    usage: 'config <image_archive>',
    describe: 'show what the image runs (Entrypoint, Cmd, Env, WorkingDir, User, ports, volumes, labels)',
    positionals: { image_archive: ARCHIVE },
    options: [
      ...IMAGE,
      ['json', bool('print the fields as JSON')],
      ['shell', str('print a command line that runs the image\'s command in DIR (an extracted rootfs)')],
      ['docker-import', bool('print the --change flags that give `docker import` the image\'s config (with --json: the instructions as a JSON list)')],
    ],
    examples: [
      example('$0 config image.tar'),
      example('eval "docker import $($0 config image.tar --docker-import) rootfs.tar app:flat"'),
      example('sh -c "$($0 config image.tar --shell rootfs/)"'),
    ],
    load: () => import('./config-command.js'),
  },
  diff: {
    usage: 'diff <a> <b>',
    describe: 'compare two root filesystems: rootfs tars (plain, gzip, zstd), directories, or images (flattened as export would)',
    positionals: { a: 'rootfs tar, directory, image archive or OCI layout; - for stdin', b: 'the same kinds as A' },
    options: [
      ...IMAGE,
      ['json', flag('print the result as JSON')],
      ['stat', flag('print only the counts')],
      ['ignore-init', flag('ignore what `docker create` adds (init paths, WorkingDir, etc/ and dev/ mtimes)')],
      ['ignore', str(`fields not to compare, comma-separated: ${DIFF_FIELDS}`, { array: true })],
      ['order', flag('also compare the order of entries')],
      ['bytes', flag('compare the archives byte for byte; report the first differing header field')],
      init('flatten image sides with what `docker create` adds at TIME (as export --docker-init)'),
    ],
    examples: [example('$0 diff rootfs.tar docker-export.tar --ignore-init'), example('$0 diff image.tar docker-export.tar.gz --ignore-init --json')],
    load: () => import('./diff-command.js'),
  },
  inspect: {
    usage: 'inspect <image_archive>',
    describe: 'show the image: layout, config, layers with their sizes, history and wasted bytes',
    positionals: { image_archive: ARCHIVE },
    options: [
      ...IMAGE,
      ['json', flag('print the report as JSON (with each layer\'s added, modified and deleted paths)')],
      ['wasted', flag('list the paths found in more than one layer, largest first (dive\'s inefficiencies)')],
      ['min-efficiency', num('exit 1 when dive\'s efficiency is below this fraction (dive: lowestEfficiency)')],
      ['max-wasted', str('exit 1 when dive\'s wasted bytes are over this size: 20MB, 1GiB, or bytes (dive: highestWastedBytes)')],
      ['max-wasted-percent', num('exit 1 when wasted bytes over the bytes added above the first layer exceed this fraction (dive: highestUserWastedPercent)')],
    ],
    examples: [
      example('$0 inspect image.tar'),
      example('$0 inspect image.tar --json | jq .totals.efficiency'),
      example('$0 inspect image.tar --min-efficiency 0.95 --max-wasted 20MB --max-wasted-percent 0.1'),
    ],
    load: () => import('./inspect-command.js'),
  },
  ls: {
    usage: 'ls <image_archive> [paths..]',
    describe: 'list the merged tree in export order, with the layer each entry comes from',
    positionals: { image_archive: ARCHIVE, paths: 'list only these subtrees' },
    options: [
      ...TREE,
      ['long', bool('mode, owner, size and mtime, like tar -tv (times in UTC)', { alias: 'l', default: false })],
      ['json', flag('a JSON array of entries')],
      init('include what `docker create` adds, for a container created at TIME (layer "init")'),
    ],
    examples: [example('$0 ls image.tar etc -l')],
    load: () => import('./ls-command.js'),
  },
  why: {
    usage: 'why <image_archive> <path>',
    describe: 'show how one path came to be: every layer that added, changed, replaced, hid or linked it',
    positionals: { image_archive: ARCHIVE, path: 'a path in the image, e.g. /etc/passwd' },
    options: [...IMAGE, ['json', flag('print the steps as JSON')]],
    examples: [example('$0 why image.tar /usr/lib/libssl.so.3')],
    load: () => import('./why-command.js'),
  },
  cat: {
    usage: 'cat <image_archive> <path>',
    describe: 'write a file of the image to stdout (symlinks followed inside the image)',
    positionals: { image_archive: ARCHIVE, path: 'path of a regular file in the image' },
    options: [...IMAGE, INIT_INCLUDE],
    examples: [example('$0 cat image.tar /etc/os-release')],
    load: () => import('./cat-command.js'),
  },
  cp: {
    usage: 'cp <source> <dest>',
    describe: 'copy a file or directory out of the image, as docker cp does (DEST - writes a tar to stdout)',
    positionals: { source: 'IMAGE:/PATH (IMAGE as for export; -:/PATH reads stdin)', dest: 'a path on this machine, or - for a tar on stdout' },
    options: [...IMAGE, ['follow-link', bool('follow the source if it is a symlink', { alias: 'L', default: false })], INIT_INCLUDE],
    examples: [example('$0 cp image.tar:/etc/nginx ./nginx-conf'), example('$0 cp image.tar:/usr/share/doc - | tar -t')],
    load: () => import('./cp-command.js'),
  },
  squash: {
    usage: 'squash <image_archive>',
    describe: 'write the image back with its layers (or those above --keep N) folded into one',
    positionals: { image_archive: 'image archive, OCI layout directory, docker-daemon:…, docker://…, or - for stdin' },
    options: [
      ...TREE,
      ['output', str('a docker-load archive (FILE, docker-archive:FILE), an OCI archive (oci-archive:FILE), oci:DIR, or docker://REGISTRY/REPO:TAG', { alias: 'o', demandOption: true })],
      ['keep', num('keep the lowest N layers as they are; squash the rest into one', { default: 0 })],
      ['tag', str('NAME:TAG to give the squashed image (default: none for files; a registry push takes its own)')],
      ['format', str('docker (docker load / schema 2) or oci (default: from OUT, else docker)', { choices: ['docker', 'oci'] })],
      ['compress', str('compression of the squashed layer (default none; gzip for docker://)', { choices: ['none', 'gzip', 'zstd'] })],
      ['created', str('created time of the image and of the squash step (RFC 3339 or epoch seconds; default the image\'s)')],
      ['all-platforms', bool('squash every platform of a multi-platform image into an OCI index')],
    ],
    examples: [
      example('$0 squash app.tar -o app-squashed.tar --tag app:squashed'),
      example('$0 squash app.tar --keep 1 -o oci:app-oci'),
      example('$0 squash docker://registry.local/app:1 -o docker://registry.local/app:1-squashed'),
    ],
    load: () => import('./squash-command.js'),
  },
  mkfs: {
    usage: 'mkfs <image_archive> <out>',
    describe: 'write a filesystem image (ext4, squashfs, erofs) of the rootfs, without root, loop devices or mke2fs',
    positionals: { image_archive: ARCHIVE, out: 'the filesystem image to write' },
    options: [
      ...TREE,
      ['type', str('filesystem (default: from OUT: .ext4, .sqfs/.squashfs, .erofs)', { alias: 't', choices: ['ext4', 'squashfs', 'erofs'] })],
      ['size', str('fixed image size (2G, 512M, bytes); fails if the tree does not fit')],
      ['free', str('headroom: a percentage of the space files can use, or bytes (default 20%)')],
      ['inodes', num('inode count (default: the tree\'s with the same headroom, at least one per 16 KiB)')],
      ['compression', str('squashfs: how blocks are compressed (default gzip)', { choices: ['gzip', 'zstd'] })],
      init('add what `docker create` adds (/dev, /proc, /sys mount points…), for a container created at TIME (default now)'),
    ],
    examples: [
      example('$0 mkfs image.tar rootfs.ext4', 'smallest ext4 holding the tree, 20% free'),
      example('$0 mkfs image.tar disk.img --type ext4 --size 2G --docker-init', 'a 2 GiB root disk for a microVM'),
    ],
    load: () => import('./mkfs-command.js'),
  },
};

/** `ls <image_archive> [paths..]` → its positionals: name, required, variadic. */
export function positionalsOf(spec: CommandSpec): Array<{ name: string; required: boolean; variadic: boolean }> {
  return [...spec.usage.matchAll(/([<[])([\w-]+)(\.\.)?[>\]]/g)].map((m) => ({ name: m[2]!, required: m[1] === '<', variadic: m[3] !== undefined }));
}

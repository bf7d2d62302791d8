/**
 * `export --wsl`: what `wsl --import` needs for the distribution to start as the container would.
 *
 * - `/etc/wsl.conf` with `[user] default=NAME`: the image's USER, resolved through the image's own
 *   /etc/passwd (image-user.ts) to the name WSL wants (WSL takes a name, not a number: a USER with no
 *   passwd entry is refused). An image that brings its own /etc/wsl.conf keeps it.
 * - `/etc/profile.d/layerfold-image-env.sh`: the image's Env for login shells (every entry but PATH,
 *   which WSL builds from /etc/profile and Windows' own), and a `cd` to the WorkingDir when the shell
 *   starts in the user's home (WSL has no working-directory setting).
 * Entrypoint and Cmd are not run: WSL starts a shell, not a container's process (README: the recipe).
 * The files are 0644 0:0 with the time given (the container's creation time, else the image's
 * `created`), so the export stays reproducible; they live in a small file of their own, which the
 * writers read like a layer (index `layers.length`, the `docker create` step's).
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LayerfoldError } from '../errors.js';
import type { FlattenedImage } from '../flatten.js';
import { onCleanup } from '../io/cleanup.js';
import type { LayerData } from '../read/layers.js';
import { Dir, Inode, isDir } from '../tree/node.js';
import { shellQuote } from '../config-view.js';
import { resolveImageUser } from './image-user.js';

export const WSL_CONF = 'etc/wsl.conf';
export const WSL_ENV = 'etc/profile.d/layerfold-image-env.sh';

export interface WslFiles {
  /** The image's layers and one more, holding the new files' bytes. */
  layers: LayerData[];
  /** Whether the image's own /etc/wsl.conf was kept. */
  keptImageConf: boolean;
  close(): void;
}

function wslConf(flat: FlattenedImage): string {
  const user = resolveImageUser(flat);
  const spec = flat.image.config.config.User ?? '';
  if (user.name === undefined && user.uid === 0) user.name = 'root';
  if (user.name === undefined) {
    throw new LayerfoldError('NOT_FOUND', `USER ${JSON.stringify(spec)}: uid ${user.uid} has no name in the image's /etc/passwd, and WSL's [user] default takes a name`);
  }
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$/.test(user.name)) throw new LayerfoldError('UNSUPPORTED', `USER ${JSON.stringify(user.name)}: not a name wsl.conf can hold`);
  return `# Written by layerfold export --wsl from the image's config (USER ${spec === '' ? 'unset: root' : spec}).\n[user]\ndefault=${user.name}\n`;
}

function envScript(flat: FlattenedImage): string {
  const config = flat.image.config.config;
  const lines = ["# Written by layerfold export --wsl: the image's Env (but PATH) and WorkingDir, for login shells."];
  for (const entry of config.Env ?? []) {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq);
    // a name the shell cannot take is skipped rather than handed to `export` as an option or a command
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || name === 'PATH' || eq < 0) continue;
    lines.push(`export ${name}=${shellQuote(entry.slice(eq + 1))}`);
  }
  if (config.WorkingDir && config.WorkingDir !== '/') lines.push(`[ "$PWD" = "$HOME" ] && cd -- ${shellQuote(config.WorkingDir)} 2>/dev/null`);
  return `${lines.join('\n')}\n`;
}

/** The directory at `parts` under root, made 0755 0:0 where missing; a non-directory in the way is refused. */
function ensureDir(root: Dir, parts: string[], mtime: number, layer: number): Dir {
  let dir = root;
  for (const part of parts) {
    const child = dir.children.get(part);
    if (child === undefined) {
      const made = new Dir(0o755, 0, 0, mtime, layer, false);
      dir.children.set(part, made);
      dir = made;
    } else if (isDir(child)) {
      dir = child;
    } else {
      throw new LayerfoldError('UNSUPPORTED', `--wsl: /${parts.join('/')} is not a directory in the image (at ${part})`);
    }
  }
  return dir;
}

/** Add the WSL files to the flattened tree; the returned layers are what the writer reads. */
export function addWslFiles(flat: FlattenedImage, mtime: number): WslFiles {
  const index = flat.layers.length;
  const etc = ensureDir(flat.tree.root, ['etc'], mtime, index);
  const keptImageConf = etc.children.has('wsl.conf');
  const files: Array<{ dir: Dir; name: string; data: Buffer }> = [];
  if (!keptImageConf) files.push({ dir: etc, name: 'wsl.conf', data: Buffer.from(wslConf(flat), 'utf8') });
  files.push({ dir: ensureDir(flat.tree.root, ['etc', 'profile.d'], mtime, index), name: 'layerfold-image-env.sh', data: Buffer.from(envScript(flat), 'utf8') });
  const dir = mkdtempSync(join(tmpdir(), 'layerfold-wsl-'));
  const unregister = onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'files');
  const fd = openSync(path, 'w+', 0o600);
  let offset = 0;
  for (const file of files) {
    writeSync(fd, file.data, 0, file.data.length, offset);
    file.dir.children.set(file.name, new Inode('file', 0o644, 0, 0, mtime, file.data.length, '', 0, 0, index, offset));
    offset += file.data.length;
  }
  const layer: LayerData = { index, fd, base: 0, size: offset, label: '--wsl files', compression: 'none', diffId: '', storedSize: offset, verified: Promise.resolve() };
  return {
    layers: [...flat.layers, layer],
    keptImageConf,
    close() {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
      unregister();
    },
  };
}
